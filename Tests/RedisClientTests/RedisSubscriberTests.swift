import Foundation
import Testing
@testable import RedisClient
import TestSupport

@Suite("RedisSubscriber against redis-server", .timeLimit(.minutes(2)))
struct RedisSubscriberTests {
    @Test func receivesMessagesAcrossAServerRestart() async throws {
        let server = try RedisServerProcess()
        try server.start()
        let fast = RedisReconnectPolicy(initialDelay: .milliseconds(50), maxDelay: .milliseconds(200), jitter: .milliseconds(10))
        try await withRedisSubscriber(server.configuration(), channels: ["ctl", "other"], reconnectPolicy: fast) { subscriber in
            var events = subscriber.makeAsyncIterator()
            #expect(try await next(&events) == .subscribed(channels: ["ctl", "other"]))

            try await withRedisConnection(server.configuration()) { publisher async throws in
                #expect(try await publisher.send("PUBLISH", "ctl", "before").integer == 1)
            }
            #expect(try await next(&events) == .message(RedisPubSubMessage(channel: "ctl", payload: Array("before".utf8))))

            server.stop()  // SIGKILL: a crash, not a polite shutdown
            guard case .disconnected(let error) = try await next(&events) else {
                Issue.record("expected a disconnected event")
                return
            }
            #expect(error.isConnectionError)

            try await Task.sleep(for: .milliseconds(300))
            try server.start()
            guard case .reconnected(let outage) = try await next(&events) else {
                Issue.record("expected a reconnected event")
                return
            }
            #expect(outage >= .milliseconds(300) && outage < .seconds(10), "\(outage)")

            try await withRedisConnection(server.configuration()) { publisher async throws in
                #expect(try await publisher.send("PUBLISH", "other", "after").integer == 1)
            }
            #expect(try await next(&events) == .message(RedisPubSubMessage(channel: "other", payload: Array("after".utf8))))
        }
    }

    @Test func reportsAnOutageWhenRedisIsDownAtStartThenSubscribes() async throws {
        let server = try RedisServerProcess()
        let fast = RedisReconnectPolicy(initialDelay: .milliseconds(50), maxDelay: .milliseconds(100), jitter: .zero)
        try await withRedisSubscriber(server.configuration(), channels: ["c"], reconnectPolicy: fast) { subscriber in
            var events = subscriber.makeAsyncIterator()
            guard case .disconnected(let error) = try await next(&events) else {
                Issue.record("expected disconnected")
                return
            }
            #expect(error.code == .connectionFailed)
            try server.start()
            guard case .reconnected = try await next(&events) else {
                Issue.record("expected reconnected")
                return
            }
        }
    }

    @Test func slowConsumerGetsBackpressureNotLoss() async throws {
        let configuration = try SharedRedis.configuration()
        let channel = SharedRedis.uniqueKey("bp")
        let subscriber = RedisSubscriber(configuration: configuration, channels: [channel], bufferCapacity: 4)
        defer { subscriber.close() }
        var events = subscriber.makeAsyncIterator()
        #expect(try await next(&events) == .subscribed(channels: [channel]))
        var batch = RedisCommandBatch()
        let payloads: [[UInt8]] = (0..<200).map { i in [UInt8(i), 0, 0xFF] + Array("msg-\(i)".utf8) }
        for payload in payloads { batch.append(binary: [Array("PUBLISH".utf8), Array(channel.utf8), payload]) }
        try await withRedisConnection(configuration) { publisher async throws in _ = try await publisher.execute(batch) }
        try await Task.sleep(for: .milliseconds(200))  // let the buffer fill
        for payload in payloads {
            #expect(try await next(&events) == .message(RedisPubSubMessage(channel: channel, payload: payload)))
        }
        #expect(subscriber.bufferFullCount >= 1)
    }

    @Test func sequenceEndsOnlyWhenClosed() async throws {
        let subscriber = RedisSubscriber(configuration: try SharedRedis.configuration(), channels: [SharedRedis.uniqueKey("end")])
        var events = subscriber.makeAsyncIterator()
        guard case .subscribed = try await next(&events) else {
            Issue.record("expected subscribed")
            return
        }
        subscriber.close()
        #expect(await events.next() == nil)
    }
}
