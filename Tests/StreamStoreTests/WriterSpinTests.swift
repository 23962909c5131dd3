import Testing
@testable import StreamStore

/// When a writer spins before its next wait: only after a lone operation that came within the limit (a
/// synchronous publisher's loop), never after a batch, a long wait, or with the spin turned off; and never
/// two writers at once.
@Suite struct WriterSpinTests {
    @Test func spinsOnlyAfterALoneOperationThatCameSoon() {
        var policy = SpinPolicy(limit: .microseconds(600))
        #expect(!policy.spinsNext)  // a fresh writer sleeps
        policy.took(1, after: .microseconds(250))
        #expect(policy.spinsNext)  // a synchronous publisher's next message: a spin would have caught it
        policy.took(1, after: .microseconds(400))
        #expect(policy.spinsNext)
        policy.took(64, after: .microseconds(10))
        #expect(!policy.spinsNext)  // a batch: work keeps coming without spinning
        policy.took(1, after: .microseconds(100))
        #expect(policy.spinsNext)
        policy.took(1, after: .milliseconds(10))
        #expect(!policy.spinsNext)  // a consumer's state every 10 ms, a stream written now and then
        policy.took(0, after: .microseconds(5))
        #expect(!policy.spinsNext)  // woken with nothing to do
    }

    @Test func aZeroLimitNeverSpins() {
        var policy = SpinPolicy(limit: .zero)
        policy.took(1, after: .zero)
        #expect(!policy.spinsNext)
    }

    @Test func oneWriterSpinsAtATime() {
        let gate = SpinGate()
        #expect(gate.claim())
        #expect(!gate.claim())
        gate.release()
        #expect(gate.claim())
        gate.release()
    }
}
