import BridgeCore
import Testing

@Suite("Binance frame classification")
struct BinanceFrameTests {
    static func classify(_ text: String) -> (BinanceFrame, [UInt8]) {
        let bytes = Array(text.utf8)
        return (bytes.withUnsafeBytes { BinanceFrame.classify($0) }, bytes)
    }

    static func slice(_ bytes: [UInt8], _ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    @Test(arguments: [
        (#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","p":"1.5"}}"#, "btcusdt@aggTrade", #"{"e":"aggTrade","p":"1.5"}"#),
        (#"{"stream":"!markPrice@arr@1s","data":[{"s":"A"},{"s":"B"}]}"#, "!markPrice@arr@1s", #"[{"s":"A"},{"s":"B"}]"#),
        (#"{"data":{"e":"x"},"stream":"a@b"}"#, "a@b", #"{"e":"x"}"#),           // other key order
        (#" { "stream" : "a@b" , "data" : { "k" : [1, "}"] } } "#, "a@b", #"{ "k" : [1, "}"] }"#),
        (#"{"stream":"a@b","data":{"e":"x"}}"# + "\n", "a@b", #"{"e":"x"}"#),
    ])
    func dataFramesKeepThePayloadBytes(text: String, stream: String, payload: String) {
        let (frame, bytes) = Self.classify(text)
        guard case .data(let name, let range) = frame else {
            Issue.record("\(text) → \(frame)")
            return
        }
        #expect(name == stream)
        #expect(Self.slice(bytes, range) == payload)
    }

    @Test func repliesAreMatchedById() {
        let (ack, bytes) = Self.classify(#"{"result":null,"id":7}"#)
        guard case .result(let id, let value) = ack else { Issue.record("\(ack)"); return }
        #expect(id == 7 && Self.slice(bytes, value) == "null")

        let (list, listBytes) = Self.classify(#"{"result":["btcusdt@aggTrade","a@b"],"id":18446744073709551615}"#)
        guard case .result(let listID, let listValue) = list else { Issue.record("\(list)"); return }
        #expect(listID == UInt64.max && Self.slice(listBytes, listValue) == #"["btcusdt@aggTrade","a@b"]"#)

        #expect(Self.classify(#"{"error":{"code":2,"msg":"Invalid request: unknown variant `FLY`"},"id":9}"#).0
            == .error(id: 9, code: 2, message: "Invalid request: unknown variant `FLY`"))
        #expect(Self.classify(#"{"error":{"code":3,"msg":"Invalid JSON: expected \"value\" at line 1"},"id":null}"#).0
            == .error(id: nil, code: 3, message: #"Invalid JSON: expected "value" at line 1"#))
        #expect(Self.classify(#"{"error":{"code":4,"msg":"Too many subscriptions"},"id":2}"#).0 == .error(id: 2, code: 4, message: "Too many subscriptions"))
    }

    @Test(arguments: [
        "",
        #"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":17"#,     // truncated
        #"{"e":"aggTrade","E":1,"s":"BTCUSDT","p":0x1F,,]} not json"#,      // malformed
        #"{"e":"aggTrade","E":1}"#,                                         // raw payload: no stream
        #"[1,2,3]"#,
        #"{"stream":"a@b"}"#,
        #"{"stream":"a@b","data":{"e":"x"}} trailing"#,
    ])
    func everythingElseIsUnrecognized(text: String) {
        let (frame, _) = Self.classify(text)
        guard case .unrecognized = frame else {
            Issue.record("\(text) → \(frame)")
            return
        }
    }

    @Test func deepNestingIsRejectedNotRecursedWithoutBound() {
        let text = #"{"stream":"a@b","data":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        // The fast path accepts the frame shape (it ends in ]}); the payload is the
        // normalizer's to validate. Without the fast path's prefix, the scanner refuses the depth.
        guard case .data(_, let range) = Self.classify(text).0 else { Issue.record("fast path"); return }
        #expect(range.count == 20_000)
        let nested = #"{"data":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + #","stream":"a@b"}"#
        guard case .unrecognized = Self.classify(nested).0 else { Issue.record("scanner accepted 10,000 levels"); return }
    }
}
