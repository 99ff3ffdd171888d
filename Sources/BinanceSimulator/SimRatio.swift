/// A probability held as an integer fraction, so that one decision is one
/// `below(denominator) < numerator` draw.
///
/// Why not a `Double` compare: the simulator's trade decision was `chance(1, in: 5)` before the
/// share of trades was configurable. 0.2 reduces to exactly 1/5, so the default market stays
/// byte-identical for a given seed, and any ratio stays deterministic across machines (no
/// floating point in the draw). Ratios are resolved to 10⁻⁶.
struct SimRatio: Sendable, Equatable {
    let numerator: Int
    let denominator: Int

    /// `value` clamped to 0…1 and rounded to 10⁻⁶, in lowest terms.
    init(_ value: Double) {
        let scale = 1_000_000
        let scaled = Int((min(1, max(0, value)) * Double(scale)).rounded())
        var (a, b) = (scaled, scale)
        while b != 0 { (a, b) = (b, a % b) }
        numerator = scaled / a
        denominator = scale / a
    }
}

extension SimRandom {
    /// True with probability `ratio`; consumes exactly one draw whatever the ratio.
    mutating func chance(_ ratio: SimRatio) -> Bool {
        chance(ratio.numerator, in: ratio.denominator)
    }
}
