//! The ports the operator runs NameServers and brokers on. They are not configurable: the
//! Services, probes and `namesrvAddr` are built around them, and in a pod network nothing
//! else competes for them.

/// NameServer remoting port (`namesrv.conf` `listenPort`).
pub const NAMESRV: u16 = 9876;
/// Broker remoting port for clients (`broker.conf` `listenPort`).
pub const BROKER: u16 = 10911;
/// The broker's VIP channel, which RocketMQ always puts at `listenPort - 2`; older clients
/// use it.
pub const BROKER_VIP: u16 = BROKER - 2;
/// Master-to-slave replication (`haListenPort`).
pub const BROKER_HA: u16 = BROKER + 1;
