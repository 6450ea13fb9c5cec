import LeanFoundation
import SealKit
import SealSourceCore

/// Several storing seals as one, for autonomous init: the material is stored in **every** one
/// before the vault is initialised with it, so a KMS down on the day of a restart does not
/// matter when a second store (a file, another KMS) holds the same key.
///
/// The rules keep every key that may be in use:
/// - what any store already holds wins over new material; stores holding *different* material
///   are a conflict that needs an operator (nothing is written, nothing initialised);
/// - a store that cannot answer (KMS down) blocks the init — it may hold material — and is
///   retried; a store that holds nothing yet is filled (create-if-absent, as each store does);
/// - reading (``fetch()``) takes the first store, in priority order, that answers.
public struct ReplicatedSealStore: StoringSealSource {
    public let stores: [any StoringSealSource]
    /// For material that already exists nowhere else — OpenBao's shares, once `sys/init` has
    /// answered: store it wherever a store answers, even while another cannot (and report that
    /// one, so the store is retried). Before an init (vaultd's key), a store that cannot answer
    /// blocks instead: it might hold material already.
    public let issued: Bool

    public init(stores: [any StoringSealSource], issued: Bool = false) {
        self.stores = stores
        self.issued = issued
    }

    /// The store autonomous init uses for `sources`: the one storing seal, or all of them
    /// together; nil when none can store.
    public static func forInit(_ sources: [any SealSource], issued: Bool = false) -> (any StoringSealSource)? {
        let stores = sources.compactMap { $0 as? any StoringSealSource }
        guard stores.count > 1 else { return stores.first }
        return ReplicatedSealStore(stores: stores, issued: issued)
    }

    public var kind: String { stores.map(\.kind).joined(separator: "+") }
    public var name: String { stores.map(\.name).joined(separator: " + ") }
    public var priority: Int { stores.map(\.priority).min() ?? 100 }
    /// The first local file: where the init lock and the init record live.
    public var localPath: String? { stores.lazy.compactMap(\.localPath).first }

    public func fetch() async throws(SealSourceError) -> SealMaterial {
        var failures = [SealSourceError]()
        for store in stores {
            do { return try await store.fetch() } catch { failures.append(error) }
        }
        // Empty only if every store said so; otherwise the reason one could not answer.
        if let failure = failures.first(where: { $0.errorClass == .retryable }) ?? failures.first(where: { $0.errorClass != .notFound }) {
            throw failure
        }
        throw SealSourceError(.notFound, "none of \(name) holds key material yet", setting: nil)
    }

    public func storeIfAbsent(_ material: SealMaterial) async throws(SealSourceError) -> StoreOutcome {
        var held = [(store: any StoringSealSource, material: SealMaterial?)]()
        var unanswered: SealSourceError?
        for store in stores {
            do {
                held.append((store, try await store.fetch()))
            } catch where error.errorClass == .notFound {
                held.append((store, nil))
            } catch {
                guard issued else { throw error }
                unanswered = unanswered ?? error
            }
        }
        var chosen: SealMaterial?
        for entry in held {
            guard let material = entry.material else { continue }
            if let chosen, chosen != material {
                let first = held.first { $0.material == chosen }!.store
                throw SealSourceError(.needsFix, "\(first.name) and \(entry.store.name) hold different key material: find which one the vault uses (unseal-agent check), then make the other hold the same (unseal-agent rewrap --from … --to …)", setting: nil)
            }
            chosen = material
        }
        let kept = chosen ?? material
        for entry in held where entry.material == nil {
            do throws(SealSourceError) {
                if case .alreadyHeld(let other) = try await entry.store.storeIfAbsent(kept), other != kept {
                    throw SealSourceError(.needsFix, "\(entry.store.name) was filled with other key material meanwhile; nothing was initialised", setting: nil)
                }
            } catch {
                guard issued, error.errorClass == .retryable else { throw error }
                unanswered = unanswered ?? error
            }
        }
        // Issued material is in every store that answered; the rest are retried by the caller.
        if let unanswered { throw unanswered }
        return chosen == nil ? .stored : .alreadyHeld(kept)
    }

    public func replace(with material: SealMaterial) async throws(SealSourceError) {
        for store in stores { try await store.replace(with: material) }
    }

    public func pending() -> (any StoringSealSource)? {
        let pendings = stores.compactMap { $0.pending() }
        guard pendings.count == stores.count else { return nil }
        return ReplicatedSealStore(stores: pendings, issued: issued)
    }
}
