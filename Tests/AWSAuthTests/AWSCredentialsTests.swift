import AWSAuth
import Foundation
import Testing

@Suite("AWS credentials")
struct AWSCredentialsTests {
    @Test("an empty session token is no token, however it arrives (botocore's rule)")
    func emptySessionToken() async throws {
        #expect(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s", sessionToken: "").sessionToken == nil)
        var credentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s", sessionToken: "t")
        credentials.sessionToken = ""
        #expect(credentials.sessionToken == nil)
        #expect(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s", sessionToken: "t").sessionToken == "t")

        // Through the chain, from the environment: no X-Amz-Security-Token is signed in.
        let chain = AWSCredentialChain(region: "us-east-1",
                                       environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "", "AWS_EC2_METADATA_DISABLED": "true"],
                                       imds: IMDSClient(environment: ["AWS_EC2_METADATA_DISABLED": "true"]))
        let resolved = try await chain.credentials()
        #expect(resolved.sessionToken == nil)
        let signed = SigV4.sign(SigV4.Request(method: "POST", path: "/", query: "", headers: [("host", "kms.us-east-1.amazonaws.com")], body: []),
                                credentials: resolved, region: "us-east-1", service: "kms", date: .init(timeIntervalSince1970: 1_700_000_000))
        #expect(!signed.canonicalRequest.lowercased().contains("x-amz-security-token"))
    }
}
