import AWSAuth
import Foundation
import Testing

@Suite("credential_process")
struct ProcessCredentialTests {
    @Test("Version 1 JSON becomes credentials; a hung helper is stopped at its deadline; a failing one is a fix")
    func credentialProcess() async throws {
        let good = ProcessCredentialProvider(command: #"printf '{"Version": 1, "AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "c2VjcmV0", "SessionToken": "tok", "Expiration": "2026-11-24T05:00:00Z"}'"#)
        let credentials = try await good.credentials()
        #expect(credentials.accessKeyID == "AKIDEXAMPLE" && credentials.sessionToken == "tok")
        #expect(credentials.expiration?.timeIntervalSince1970 == 1_795_496_400)

        var hung = ProcessCredentialProvider(command: "sleep 30")
        hung.timeout = .milliseconds(300)
        let timedOut = await #expect(throws: AWSError.self) { _ = try await hung.credentials() }
        #expect(timedOut?.errorClass == .retryable)
        #expect(timedOut?.message.contains("credential_process") == true)

        let failing = await #expect(throws: AWSError.self) { _ = try await ProcessCredentialProvider(command: "echo nope; exit 2").credentials() }
        #expect(failing?.errorClass == .needsFix)
        #expect(failing?.message.contains("exited 2") == true)
    }
}
