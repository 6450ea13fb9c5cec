// FoundationEssentials (Data, Date, URL, FileManager, ProcessInfo, JSONEncoder/JSONDecoder, …)
// re-exported: a module imports LeanFoundation for those plus what this module adds, and
// never the full Foundation (see ``AnyJSON`` for why).
#if canImport(FoundationEssentials)
@_exported import FoundationEssentials
#else
@_exported import Foundation
#endif
// The C library too, as `import Foundation` gave it.
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Musl)
@_exported import Musl
#endif
