import BridgeCore

/// The contract's error codes (Redis contract §1).
public enum ControlErrorCode: String, Sendable, CaseIterable {
    case badJSON = "bad_json"
    case badRequest = "bad_request"
    case unknownOp = "unknown_op"
    case unknownMarket = "unknown_market"
    case invalidStream = "invalid_stream"
    case unknownSymbol = "unknown_symbol"
    case poolExhausted = "pool_exhausted"
    case redisError = "redis_error"
    case `internal`
}

/// A command that cannot be applied, as the reply reports it.
public struct ControlError: Error, Sendable, Equatable {
    public var code: ControlErrorCode
    public var message: String
    /// The offending streams, when streams are at fault.
    public var streams: [String]

    public init(_ code: ControlErrorCode, _ message: String, streams: [String] = []) {
        self.code = code
        self.message = message
        self.streams = streams
    }
}

/// The ops of the control channel.
public enum ControlOp: String, Sendable, CaseIterable {
    case subscribe, unsubscribe, list, status, reconcile, ping
    case instrumentsReload = "instruments.reload"
    case instrumentsSync = "instruments.sync"
}

/// One decoded, validated command: every field checked before anything is applied.
public struct ControlCommand: Sendable, Equatable {
    /// Largest command accepted (Redis contract §1).
    public static let maximumBytes = 64 << 10
    /// Most streams per (un)subscribe.
    public static let maximumStreams = 1000

    public var op: ControlOp
    /// Echoed in the reply: a string or an integer.
    public var id: JSONValue?
    public var replyTo: String?
    public var market: BinanceMarket
    /// For (un)subscribe: the names, in request order (validated by the pool's parser later).
    public var streams: [String]

    /// What could be read of a command that is rejected: enough to reply.
    public struct Rejection: Error, Sendable, Equatable {
        public var error: ControlError
        public var id: JSONValue?
        public var replyTo: String?
        public var op: String?
    }

    /// Decodes `payload`; a rejection carries the id, op and `reply_to` when they could be read.
    public static func decode(_ payload: [UInt8]) -> Result<ControlCommand, Rejection> {
        guard payload.count <= maximumBytes else {
            return .failure(Rejection(error: ControlError(.badRequest, "command of \(payload.count) bytes exceeds the \(maximumBytes)-byte limit")))
        }
        guard let value = JSONValue.parse(payload) else {
            return .failure(Rejection(error: ControlError(.badJSON, "the command is not valid JSON")))
        }
        guard let object = value.object else {
            return .failure(Rejection(error: ControlError(.badRequest, "the command must be a JSON object")))
        }
        // Read what a reply needs first, so that every later error can be answered.
        var replyTo: String?
        var id: JSONValue?
        if let raw = object["reply_to"] {
            guard let name = raw.string, !name.isEmpty, name.utf8.count <= 512 else {
                return .failure(Rejection(error: ControlError(.badRequest, "reply_to must be a non-empty string of at most 512 bytes")))
            }
            replyTo = name
        }
        if let raw = object["id"] {
            switch raw {
            case .string(let text) where text.utf8.count <= 256: id = raw
            case .integer: id = raw
            default:
                return .failure(Rejection(error: ControlError(.badRequest, "id must be a string (at most 256 bytes) or an integer"), replyTo: replyTo))
            }
        }
        func reject(_ code: ControlErrorCode, _ message: String, op: String?) -> Result<ControlCommand, Rejection> {
            .failure(Rejection(error: ControlError(code, message), id: id, replyTo: replyTo, op: op))
        }
        guard let opValue = object["op"] else { return reject(.badRequest, "missing op", op: nil) }
        guard let opText = opValue.string else { return reject(.badRequest, "op must be a string", op: nil) }
        guard let op = ControlOp(rawValue: opText) else {
            return reject(.unknownOp, "unknown op \"\(opText.prefix(64))\"; ops: \(ControlOp.allCases.map(\.rawValue).joined(separator: ", "))", op: String(opText.prefix(64)))
        }
        var market = BinanceMarket.usdm
        if let raw = object["market"] {
            guard let text = raw.string else { return reject(.badRequest, "market must be a string", op: opText) }
            guard let parsed = BinanceMarket(rawValue: text) else {
                return reject(.unknownMarket, "unknown market \"\(text.prefix(64))\"; markets: usdm, coinm", op: opText)
            }
            market = parsed
        }
        var streams: [String] = []
        if op == .subscribe || op == .unsubscribe {
            guard let raw = object["streams"] else { return reject(.badRequest, "missing streams", op: opText) }
            guard let array = raw.array else { return reject(.badRequest, "streams must be an array of stream names", op: opText) }
            guard (1...maximumStreams).contains(array.count) else {
                return reject(.badRequest, "streams must hold 1 to \(maximumStreams) names, got \(array.count)", op: opText)
            }
            for element in array {
                guard let name = element.string else { return reject(.badRequest, "streams must be an array of strings", op: opText) }
                streams.append(name)
            }
        }
        return .success(ControlCommand(op: op, id: id, replyTo: replyTo, market: market, streams: streams))
    }
}

/// The reply objects of the contract.
public enum ControlReply {
    /// `{"id":…, "ok":true, "op":…, "result":{…}}`
    public static func success(id: JSONValue?, op: String, result: JSONValue) -> JSONValue {
        var object: [String: JSONValue] = ["ok": true, "op": JSONValue(op), "result": result]
        object["id"] = id ?? .null
        return .object(object)
    }

    /// `{"id":…, "ok":false, "op":…, "error":{"code":…, "message":…, "streams":[…]}}`
    public static func failure(id: JSONValue?, op: String?, error: ControlError) -> JSONValue {
        var details: [String: JSONValue] = ["code": JSONValue(error.code.rawValue), "message": JSONValue(error.message)]
        if !error.streams.isEmpty { details["streams"] = JSONValue(error.streams) }
        var object: [String: JSONValue] = ["ok": false, "error": .object(details)]
        object["id"] = id ?? .null
        object["op"] = op.map { JSONValue.string($0) } ?? JSONValue.null
        return .object(object)
    }
}
