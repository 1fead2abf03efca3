//! The remoting protocol (being written).
