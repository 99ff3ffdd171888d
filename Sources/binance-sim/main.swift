import BridgeCore

#if canImport(Glibc)
import Glibc
#endif

// The Binance futures simulator is its own issue (binance-sim). Until it lands this
// executable says so plainly and fails, so no script can mistake it for a running exchange.
let message = "binance-sim \(BridgeVersion.current): the simulator is not implemented yet (see the binance-sim issue)\n"
_ = message.withCString { write(2, $0, strlen($0)) }
exit(3)
