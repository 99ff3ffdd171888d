@testable import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import Testing

/// Mutation fuzzing of what reads untrusted bytes: the frame classifier, the normalizer, the
/// depth readers (frames from the exchange) and the control-command decoder (commands from
/// anyone who can `PUBLISH`). Inputs are real payloads (`Tests/FuzzCorpus/`: frames the
/// simulator sent, one or two per stream type of both markets, and one command per op),
/// mutated by a seeded generator: bytes flipped, cut, repeated, or spliced with JSON tokens,
/// huge numbers and deep nesting. No input may crash or hang a reader, or make it allocate
/// out of proportion to the input; entries never hold an empty value.
///
/// `FUZZ_ITERATIONS` (default 300 per corpus entry and framing; CI's bounded run) and
/// `FUZZ_SEED` reproduce or lengthen a run.
@Suite("Fuzzing the readers of untrusted input", .timeLimit(.minutes(2)))
struct FuzzTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzCorpus")
    static let iterations = Int(ProcessInfo.processInfo.environment["FUZZ_ITERATIONS"] ?? "") ?? 300
    static let seed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? 0x5EED

    static let tokens: [[UInt8]] = [
        "\"", "\\", "{", "}", "[", "]", ",", ":", "-", "null", "true", "false", "\"\"", "0", "-0", "0.", ".5", "1e309", "-1e-400",
        "99999999999999999999999999", "18446744073709551616", "9223372036854775808", "\"\\u0000\"", "\"\\ud800\"", "\u{FF}\u{FE}",
        String(repeating: "[", count: 600), String(repeating: "9", count: 400), "\"stream\":", "\"data\":", "\"e\":\"aggTrade\"",
        "\"b\":[[\"1\",\"2\"]]", "\"a\":[[\"x\"]]", "\"u\":-1", "\"pu\":1e3",
    ].map { Array($0.utf8) }

    /// `input` with one to four random mutations, at most 64 KiB.
    static func mutate(_ input: [UInt8], _ random: inout SimRandom) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &random)
            case 1 where !bytes.isEmpty: bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...16, using: &random)))
            case 2: bytes.insert(contentsOf: tokens.randomElement(using: &random)!, at: position)
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...256, using: &random))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            case 4: bytes.removeSubrange(position...)
            default:
                // A digit run replaced by a huge number.
                if let digit = bytes[position...].firstIndex(where: { (48...57).contains($0) }) {
                    bytes.replaceSubrange(digit..<digit + 1, with: Array("123456789012345678901234567890".utf8))
                }
            }
        }
        return Array(bytes.prefix(64 << 10))
    }

    static func lines(_ file: String) throws -> [JSONValue] {
        try String(contentsOf: corpus.appendingPathComponent(file), encoding: .utf8).split(separator: "\n").map {
            try #require(JSONValue.parse(Array($0.utf8)), "corpus line \($0.prefix(80))")
        }
    }

    @Test func framesNeverCrashHangOrBalloonTheReaders() throws {
        let corpus = try Self.lines("frames.jsonl")
        #expect(corpus.count >= 30)
        let instruments = InstrumentPrecisions([
            .usdm: ["BTCUSDT": InstrumentPrecision(priceDecimals: 1, quantityDecimals: 3, priceTick: 1)],
            .coinm: ["BTCUSD_PERP": InstrumentPrecision(priceDecimals: 1, quantityDecimals: 0, priceTick: 1)],
        ])
        let normalizer = MarketDataNormalizer(instruments: instruments)
        var random = SimRandom(seed: Self.seed)  // the same mutations for the same seed
        var normalized = 0
        var rejected = 0
        var entries: [StreamEntry] = []
        for line in corpus {
            let market = try #require(line["market"]?.string.flatMap(BinanceMarket.init(rawValue:)))
            let name = try BinanceStreamName(try #require(line["stream"]?.string), market: market)
            let payload = try #require(line["payload"]).text
            for framing in [payload, #"{"stream":"\#(name.rawValue)","data":\#(payload)}"#] {
                let original = Array(framing.utf8)
                for _ in 0..<Self.iterations {
                    let frame = Self.mutate(original, &random)
                    frame.withUnsafeBytes { bytes in
                        _ = BinanceFrame.classify(bytes)
                        entries.removeAll(keepingCapacity: true)
                        do {
                            try normalizer.normalize(frame: bytes, stream: name, receiveTimeMicroseconds: 1, into: &entries)
                            normalized += 1
                        } catch {
                            rejected += 1
                        }
                        if case .depth = name.type {
                            _ = try? DepthDiff.parse(frame: bytes, scale: BookScale(price: 1, quantity: 3, isInstrumentPrecision: true, tick: 1))
                            _ = try? DepthSnapshot.parse(bytes, scale: .fallback)
                        }
                    }
                    // Bounded output: an entry's fields are the input's, re-formatted.
                    let written = entries.reduce(0) { $0 + $1.decodedFields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count } }
                    #expect(written <= 8 * frame.count + 4_096, "\(written) bytes of entries from a \(frame.count)-byte frame")
                    for entry in entries {
                        for (field, value) in entry.decodedFields where value.isEmpty {
                            Issue.record("\(name.rawValue): empty \(field) from \(String(decoding: frame.prefix(300), as: UTF8.self))")
                        }
                    }
                }
            }
        }
        // The mutations reach both outcomes (a mutator that only breaks JSON tests little).
        #expect(normalized > 100 && rejected > 100, "normalized \(normalized), rejected \(rejected)")
    }

    @Test func commandsNeverCrashOrHangTheDecoder() throws {
        let corpus = try Self.lines("commands.jsonl")
        var random = SimRandom(seed: Self.seed &+ 1)
        var decoded = 0
        var rejected = 0
        for command in corpus {
            let original = Array(command.text.utf8)
            for _ in 0..<(Self.iterations * 10) {
                switch ControlCommand.decode(Self.mutate(original, &random)) {
                case .success: decoded += 1
                case .failure(let rejection):
                    rejected += 1
                    #expect(!rejection.error.message.isEmpty)
                }
            }
        }
        // Deep nesting and the size limit, exactly.
        for deep in [String(repeating: "[", count: 60_000), String(repeating: "{\"a\":", count: 12_000) + "1" + String(repeating: "}", count: 12_000)] {
            if case .success = ControlCommand.decode(Array(deep.utf8)) { Issue.record("deep nesting decoded") }
        }
        let huge = #"{"op":"ping","id":""# + String(repeating: "x", count: ControlCommand.maximumBytes) + #""}"#
        if case .failure(let rejection) = ControlCommand.decode(Array(huge.utf8)) {
            #expect(rejection.error.code == .badRequest && rejection.error.message.contains("limit"), "\(rejection.error)")
        } else {
            Issue.record("a command over the size limit decoded")
        }
        #expect(decoded > 100 && rejected > 100, "decoded \(decoded), rejected \(rejected)")
    }
}
