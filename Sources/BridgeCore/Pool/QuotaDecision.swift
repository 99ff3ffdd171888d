/// A rate quota's answer: go ahead now (the permit is taken), or retry at an instant.
public enum QuotaDecision<Instant: InstantProtocol>: Sendable, Equatable where Instant: Sendable {
    /// The permit was taken: send the message / open the connection now.
    case sendNow
    /// No permit before this instant; nothing was taken.
    case waitUntil(Instant)
}
