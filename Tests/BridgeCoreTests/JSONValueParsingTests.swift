import BridgeCore
import Foundation
import Testing

@Suite("JSONValue parsing: strict RFC 8259, one pass")
struct JSONValueParsingTests {
    @Test func readsEveryKindOfValue() throws {
        let text = #" { "s": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00", "i": -42, "big": 9223372036854775807, "over": 9223372036854775808, "d": 1.5e3, "z": 0, "f": -0.25, "t": true, "n": null, "a": [1, [], {}], "e": {} } "#
        let value = try JSONValue.parsing(text)
        #expect(value == [
            "s": .string("a\"b\\c/d\n\té😀"), "i": -42, "big": .integer(.max), "over": .number(9223372036854775808),
            "d": .number(1500), "z": 0, "f": .number(-0.25), "t": true, "n": .null, "a": [1, [], [:]], "e": [:],
        ])
    }

    @Test func keepsBooleansAndNumbersApart() throws {
        #expect(try JSONValue.parsing("[true, 1, 1.0, false, 0]") == [.bool(true), .integer(1), .number(1), .bool(false), .integer(0)])
        #expect(try JSONValue.parsing("\"1\"") == .string("1"))
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "-", "1.", ".5", "1e", "+1", "tru", "nul", "truex",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\u{1}b\"", "[1] 2", "1e999", "NaN",
    ])
    func rejectsWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parsing(text) }
        #expect(JSONValue.parse(Array(text.utf8)) == nil)
    }

    @Test func rejectsInvalidUTF8AndSaysWhere() {
        #expect(JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) == nil)
        let error = #expect(throws: JSONSyntaxError.self) { try JSONValue.parsing("[1 2]") }
        #expect(error?.detail == "expected ',' or ']' at byte 3")
    }

    @Test func boundsTheNesting() throws {
        let deepest = JSONReader.maximumDepth
        let fits = String(repeating: "[", count: deepest) + String(repeating: "]", count: deepest)
        #expect(throws: Never.self) { try JSONValue.parsing(fits) }
        let hostile = String(repeating: "[", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parsing(hostile) }
    }

    /// Random values printed by `JSONValue.text` (JSONEncoder) and by hand read back equal, and
    /// agree with what Foundation's `JSONDecoder` makes of the same text.
    @Test func readsBackWhatIsWrittenAndAgreesWithFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        func random(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &generator) {
            case 0: return .integer(Int64.random(in: .min ... .max, using: &generator))
            case 1: return .number(Double.random(in: -1e6...1e6, using: &generator) + 0.5)
            case 2: return .bool(Bool.random(using: &generator))
            case 3: return .null
            case 4:
                let scalars = (0..<Int.random(in: 0...12, using: &generator)).map { _ in
                    Unicode.Scalar([0x22, 0x5C, 0x0A, 0x01, 0x41, 0xE9, 0x20AC, 0x1F600].randomElement(using: &generator)!)!
                }
                return .string(String(String.UnicodeScalarView(scalars)))
            case 5: return .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in random(depth + 1) })
            default:
                return .object(Dictionary((0..<Int.random(in: 0...4, using: &generator)).map { ("k\($0)", random(depth + 1)) }, uniquingKeysWith: { a, _ in a }))
            }
        }
        for _ in 0..<500 {
            let value = random(0)
            let text = value.text
            #expect(JSONValue.parse(Array(text.utf8)) == value, "\(text)")
            #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) == value, "\(text)")
        }
    }
}
