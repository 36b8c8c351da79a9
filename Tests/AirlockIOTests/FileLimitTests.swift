import Testing
@testable import AirlockIO

extension IOTests {
    @Suite struct FileLimitTests {
        @Test func raisesSoftLimitToHardLimit() throws {
            let raised = try raiseOpenFileLimit()
            #expect(raised == FileLimit.current())
            #expect(raised >= 1024)
        }
    }
}
