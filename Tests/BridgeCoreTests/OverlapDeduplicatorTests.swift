import Testing
@testable import BridgeCore

@Suite("OverlapDeduplicator")
struct OverlapDeduplicatorTests {
    typealias Dedup = OverlapDeduplicator<String, Int>

    /// Feeds frames to `dedup`: each event is (source, index into `truth`); the payload is the
    /// index, the fingerprint the truth value at that index (so repeated values collide).
    static func run(_ dedup: inout Dedup, truth: [UInt64], events: [(Dedup.Source, Int)], stream: String = "s") -> [Int] {
        events.flatMap { source, index in
            dedup.receive(index, fingerprint: truth[index], stream: stream, from: source)
        }
    }

    static func finish(_ dedup: inout Dedup) -> [Int] { dedup.finish().flatMap(\.payloads) }

    // MARK: Interleavings

    @Test func newAheadOfOld() {
        var dedup = Dedup(capacityPerStream: 16)
        let truth = (0..<15).map { UInt64($0) * 7919 }
        var delivered = Self.run(&dedup, truth: truth, events: (0..<5).map { (.old, $0) })
        #expect(delivered == [0, 1, 2, 3, 4])
        // The new connection starts at 5 and runs ahead: buffered, nothing delivered yet.
        #expect(Self.run(&dedup, truth: truth, events: [(.new, 5), (.new, 6), (.new, 7)]).isEmpty)
        #expect(dedup.bufferedCount("s") == 3)
        // The old one catches up to 5: aligned; 5 from old, then the buffered 6 and 7.
        #expect(Self.run(&dedup, truth: truth, events: [(.old, 5)]) == [5, 6, 7])
        #expect(dedup.hasSwitched("s"))
        delivered += [5, 6, 7]
        delivered += Self.run(&dedup, truth: truth, events: [(.old, 6), (.old, 7), (.new, 8), (.old, 8), (.old, 9), (.new, 9)])
        delivered += Self.run(&dedup, truth: truth, events: (10..<15).map { (.new, $0) })
        delivered += Self.finish(&dedup)
        #expect(delivered == Array(0..<15))
        #expect(dedup.statistics.alignedStreams == 1)
        #expect(dedup.statistics.fallbackStreams == 0)
        #expect(dedup.unprovenStreams.isEmpty)
    }

    @Test func oldAheadOfNew() {
        var dedup = Dedup(capacityPerStream: 16)
        let truth = (0..<20).map { UInt64($0) &* 0x9E37_79B9 }
        var delivered = Self.run(&dedup, truth: truth, events: (0..<10).map { (.old, $0) })
        // The new connection starts at 5, behind: its frames are duplicates until it reaches 9.
        #expect(Self.run(&dedup, truth: truth, events: (5..<9).map { (.new, $0) }).isEmpty)
        #expect(!dedup.hasSwitched("s"))
        #expect(Self.run(&dedup, truth: truth, events: [(.new, 9)]).isEmpty)
        #expect(dedup.hasSwitched("s"))  // aligned with the old connection's latest
        delivered += Self.run(&dedup, truth: truth, events: [(.old, 10), (.old, 11), (.new, 10), (.new, 11), (.new, 12)])
        delivered += Self.finish(&dedup)
        #expect(delivered == Array(0..<13))
        #expect(dedup.statistics.duplicatesDropped == 7)  // new 5…9, old 10, 11
    }

    @Test func identicalPayloadsRepeatedWaitForADistinctFrame() {
        // Truth: A B A C D; old has delivered A B A; the new connection starts at the second A.
        let (a, b, c, d): (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
        let truth = [a, b, a, c, d]
        var dedup = Dedup(capacityPerStream: 8)
        var delivered = Self.run(&dedup, truth: truth, events: [(.old, 0), (.old, 1), (.old, 2)])
        // "A" matches the old history at two offsets: ambiguous, so it waits.
        #expect(Self.run(&dedup, truth: truth, events: [(.new, 2)]).isEmpty)
        #expect(!dedup.hasSwitched("s"))
        // "C" rules out the first offset: switch, and C is delivered once.
        #expect(Self.run(&dedup, truth: truth, events: [(.new, 3)]) == [3])
        delivered += [3]
        delivered += Self.run(&dedup, truth: truth, events: [(.old, 3), (.new, 4), (.old, 4)])
        #expect(delivered == [0, 1, 2, 3, 4])
    }

    @Test func aRunOfIdenticalPayloadsResolvesWhenTheOldConnectionMovesOn() {
        // Truth: A A A A B C; old delivers A A; new starts at index 1.
        let truth: [UInt64] = [1, 1, 1, 1, 2, 3]
        var dedup = Dedup(capacityPerStream: 8)
        var delivered = Self.run(&dedup, truth: truth, events: [(.old, 0), (.old, 1)])
        delivered += Self.run(&dedup, truth: truth, events: [(.new, 1), (.new, 2), (.new, 3), (.new, 4)])
        #expect(delivered == [0, 1])  // ambiguous so far
        delivered += Self.run(&dedup, truth: truth, events: [(.old, 2), (.old, 3), (.old, 4)])
        #expect(dedup.hasSwitched("s"))
        delivered += Self.run(&dedup, truth: truth, events: [(.new, 5), (.old, 5)])
        #expect(delivered == [0, 1, 2, 3, 4, 5])
        #expect(dedup.statistics.fallbackStreams == 0)
    }

    @Test func randomInterleavingsDeliverEveryMessageExactlyOnce() {
        var random = LCG(seed: 42)
        for round in 0..<300 {
            let count = 5 + random.next(40)
            let truth = (0..<count).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 &+ 1 }
            let newStart = random.next(count)
            var events: [(Dedup.Source, Int)] = []
            var old = 0, new = newStart
            while old < count || new < count {
                if new >= count || (old < count && random.next(2) == 0) {
                    events.append((.old, old)); old += 1
                } else {
                    events.append((.new, new)); new += 1
                }
            }
            var dedup = Dedup(capacityPerStream: 64)
            var delivered = Self.run(&dedup, truth: truth, events: events)
            delivered += Self.finish(&dedup)
            #expect(delivered == Array(0..<count), "round \(round): start \(newStart)")
            #expect(dedup.statistics.fallbackStreams == 0, "round \(round)")
        }
    }

    @Test func theNewConnectionMayStartBeforeTheOverlapBegan() {
        // The old connection delivered 0..<prefix before the deduplicator existed; the new
        // one starts anywhere, possibly inside that prefix: those frames are duplicates.
        var random = LCG(seed: 7)
        for round in 0..<300 {
            let count = 10 + random.next(30)
            let prefix = 1 + random.next(count / 2)
            let truth = (0..<count).map { UInt64($0) &* 0x2545_F491_4F6C_DD1D &+ 3 }
            let newStart = random.next(count)
            var events: [(Dedup.Source, Int)] = []
            var old = prefix, new = newStart
            while old < count || new < count {
                if new >= count || (old < count && random.next(2) == 0) {
                    events.append((.old, old)); old += 1
                } else {
                    events.append((.new, new)); new += 1
                }
            }
            var dedup = Dedup(capacityPerStream: 64)
            var delivered = Self.run(&dedup, truth: truth, events: events)
            delivered += Self.finish(&dedup)
            #expect(delivered == Array(prefix..<count), "round \(round): prefix \(prefix), start \(newStart)")
        }
    }

    @Test func aSwitchOverBeforeAlignmentStillDeliversEverythingOnce() {
        // The switch-over comes while the new connection is still behind: the frames it
        // still owes are dropped when they arrive.
        let truth = (0..<12).map { UInt64($0) + 100 }
        var dedup = Dedup(capacityPerStream: 16)
        var delivered = Self.run(&dedup, truth: truth, events: (0..<8).map { (.old, $0) })
        delivered += Self.run(&dedup, truth: truth, events: [(.new, 3), (.new, 4)])
        delivered += Self.finish(&dedup)
        delivered += Self.run(&dedup, truth: truth, events: [(.old, 8)])  // dropped: old is done
        delivered += Self.run(&dedup, truth: truth, events: (5..<12).map { (.new, $0) })
        #expect(delivered == Array(0..<8) + Array(8..<12))
        #expect(dedup.statistics.fallbackStreams == 0)
        #expect(dedup.statistics.finishedStreams == 1)
        #expect(dedup.unprovenStreams.isEmpty, "an overlap proves continuity")
    }

    // MARK: Fallbacks and quiet streams

    @Test func aStreamThatNeverAlignsFallsBackWhenItsBufferIsFull() {
        var dedup = Dedup(capacityPerStream: 4)
        // The two sockets disagree entirely (e.g. a field differs): no alignment ever.
        for index in 0..<10 {
            #expect(dedup.receive(index, fingerprint: UInt64(index), stream: "s", from: .old) == [index])
        }
        for index in 0..<4 {
            #expect(dedup.receive(100 + index, fingerprint: UInt64(1000 + index), stream: "s", from: .new).isEmpty)
        }
        #expect(dedup.bufferedCount("s") == 4)
        // The fifth exceeds the bound: switch, delivering the whole buffer (at-least-once).
        #expect(dedup.receive(104, fingerprint: 1004, stream: "s", from: .new) == [100, 101, 102, 103, 104])
        #expect(dedup.statistics.fallbackStreams == 1)
        #expect(dedup.unprovenStreams == ["s"], "no overlap: frames may be missing between the two")
        #expect(dedup.hasSwitched("s"))
        #expect(dedup.receive(10, fingerprint: 10, stream: "s", from: .old).isEmpty)
        #expect(dedup.receive(105, fingerprint: 1005, stream: "s", from: .new) == [105])
    }

    @Test func quietStreamsSwitchAtTheEndOfTheOverlap() {
        var dedup = Dedup(capacityPerStream: 8)
        // "quiet" sees nothing; "late" only hears from the new connection (old went quiet).
        #expect(dedup.receive(1, fingerprint: 11, stream: "late", from: .new).isEmpty)
        #expect(dedup.receive(2, fingerprint: 12, stream: "late", from: .new).isEmpty)
        #expect(!dedup.hasSwitched("quiet"))
        let released = dedup.finish()
        #expect(released.count == 1)
        #expect(released.first?.stream == "late")
        #expect(released.first?.payloads == [1, 2])
        #expect(dedup.hasSwitched("quiet") && dedup.isFinished)
        #expect(dedup.receive(3, fingerprint: 13, stream: "quiet", from: .new) == [3])
        #expect(dedup.receive(4, fingerprint: 13, stream: "quiet", from: .old).isEmpty)
        #expect(dedup.finish().isEmpty)
        // "late": the new side alone, nothing to overlap with; "quiet": neither side, no hole.
        #expect(dedup.unprovenStreams == ["late"])
    }

    @Test func switchedStreamsAreThoseAlreadyOnTheNewConnection() {
        var dedup = Dedup(capacityPerStream: 8)
        #expect(dedup.receive(1, fingerprint: 1, stream: "a", from: .old) == [1])
        #expect(dedup.receive(1, fingerprint: 1, stream: "a", from: .new).isEmpty)  // aligned: switched
        #expect(dedup.receive(2, fingerprint: 2, stream: "b", from: .old) == [2])  // old only
        #expect(dedup.receive(3, fingerprint: 3, stream: "c", from: .old) == [3])
        #expect(dedup.receive(3, fingerprint: 3, stream: "c", from: .new).isEmpty)
        dedup.remove("c")  // unsubscribed: never reported
        #expect(dedup.switchedStreams == ["a"])
        _ = dedup.finish()
        #expect(dedup.switchedStreams.isEmpty, "finished: nothing to give up")
    }

    @Test func aSwitchWithoutOverlapIsUnprovenAndAnAmbiguousOneIsNot() {
        var dedup = Dedup(capacityPerStream: 4)
        // "cut": the old connection delivered, then the switch came before the new one
        // delivered anything (the old socket dropped mid-rotation).
        #expect(dedup.receive(1, fingerprint: 1, stream: "cut", from: .old) == [1])
        // "same": identical payloads, several offsets match; the buffer overflows, the switch
        // may repeat a frame but every reading overlaps: nothing can be missing.
        for index in 0..<3 { #expect(dedup.receive(index, fingerprint: 7, stream: "same", from: .old) == [index]) }
        for index in 0..<5 { _ = dedup.receive(10 + index, fingerprint: 7, stream: "same", from: .new) }
        #expect(dedup.hasSwitched("same") && dedup.statistics.fallbackStreams == 1)
        #expect(dedup.unprovenStreams.isEmpty)
        #expect(dedup.finish().isEmpty)
        #expect(dedup.unprovenStreams == ["cut"])
        #expect(dedup.receive(2, fingerprint: 2, stream: "cut", from: .new) == [2])
    }

    @Test func aRemovedStreamReleasesNothingAtFinish() {
        var dedup = Dedup(capacityPerStream: 8)
        #expect(dedup.receive(1, fingerprint: 1, stream: "gone", from: .new).isEmpty)
        #expect(dedup.bufferedCount("gone") == 1)
        dedup.remove("gone")
        #expect(dedup.bufferedCount("gone") == 0)
        #expect(dedup.finish().isEmpty)
    }

    @Test func streamsAreIndependent() {
        var dedup = Dedup(capacityPerStream: 8)
        #expect(dedup.receive(1, fingerprint: 1, stream: "a", from: .old) == [1])
        #expect(dedup.receive(2, fingerprint: 1, stream: "b", from: .new).isEmpty)  // same bytes, other stream
        #expect(!dedup.hasSwitched("b"))
        #expect(dedup.receive(3, fingerprint: 1, stream: "a", from: .new).isEmpty)
        #expect(dedup.hasSwitched("a"))
    }

    @Test func fingerprintIsFNV1a() {
        #expect(Dedup.fingerprint(of: []) == 0xcbf2_9ce4_8422_2325)
        #expect(Dedup.fingerprint(of: Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(Dedup.fingerprint(of: Array("ab".utf8)) != Dedup.fingerprint(of: Array("ba".utf8)))
    }
}

/// A deterministic pseudo-random generator for interleavings.
struct LCG {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    /// A value in 0..<bound.
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }
}
