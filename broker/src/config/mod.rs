//! Configuration files in RocketMQ's key names (being written).
