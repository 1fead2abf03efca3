//! The classic RocketMQ HA wire, sans-IO (what reference masters and slaves speak on
//! `haListenPort`):
//!
//! | direction | frame |
//! |---|---|
//! | slave → master | `max_offset i64` — the slave's log end (its ack), sent on connect, after every append and as a heartbeat |
//! | master → slave | `offset i64 · size i32 · size bytes of CommitLog` — a transfer; `size` 0 is a heartbeat |
//!
//! All big-endian. There is no handshake: the first report tells the master where to start.

use bytes::{Buf, BufMut, BytesMut};

/// Length of a slave report.
pub const REPORT_LEN: usize = 8;
/// Length of a transfer header.
pub const HEADER_LEN: usize = 12;

/// Why a frame is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A transfer announces more than the bound.
    #[error("transfer of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Announced size.
        size: i64,
        /// The limit.
        max: usize,
    },
    /// A negative offset or size.
    #[error("negative {0} in a replication frame")]
    Negative(&'static str),
}

/// Encodes a slave report.
pub fn report(offset: u64) -> [u8; REPORT_LEN] {
    offset.to_be_bytes()
}

/// The newest complete report in `buf` (older ones are stale acks), consuming every complete
/// report; `None` when no complete report arrived.
pub fn take_reports(buf: &mut BytesMut) -> Option<u64> {
    let mut newest = None;
    while buf.len() >= REPORT_LEN {
        newest = Some(buf.get_u64());
    }
    newest
}

/// Encodes a transfer header.
pub fn header(offset: u64, size: usize, out: &mut BytesMut) {
    out.put_u64(offset);
    out.put_u32(u32::try_from(size).unwrap_or(u32::MAX));
}

/// A decoded transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Global CommitLog offset of the first byte.
    pub offset: u64,
    /// The bytes (empty for a heartbeat).
    pub data: BytesMut,
}

/// Takes one complete transfer off the front of `buf`; `Ok(None)` when more bytes are needed.
pub fn take_transfer(buf: &mut BytesMut, max: usize) -> Result<Option<Transfer>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let offset = i64::from_be_bytes(buf[..8].try_into().unwrap_or_default());
    let size = i32::from_be_bytes(buf[8..12].try_into().unwrap_or_default());
    let offset = u64::try_from(offset).map_err(|_| WireError::Negative("offset"))?;
    let size = usize::try_from(size).map_err(|_| WireError::Negative("size"))?;
    if size > max {
        return Err(WireError::TooLarge {
            size: size as i64,
            max,
        });
    }
    if buf.len() < HEADER_LEN + size {
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    Ok(Some(Transfer {
        offset,
        data: buf.split_to(size),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_round_trip_and_are_bounded() {
        let mut buf = BytesMut::new();
        header(4096, 3, &mut buf);
        buf.put_slice(b"abc");
        header(4099, 0, &mut buf);
        let first = take_transfer(&mut buf.split_to(HEADER_LEN + 2), 10).unwrap();
        assert_eq!(first, None, "incomplete");
        let mut buf2 = BytesMut::new();
        header(4096, 3, &mut buf2);
        buf2.put_slice(b"abc");
        header(4099, 0, &mut buf2);
        let t = take_transfer(&mut buf2, 10).unwrap().unwrap();
        assert_eq!((t.offset, &t.data[..]), (4096, &b"abc"[..]));
        let hb = take_transfer(&mut buf2, 10).unwrap().unwrap();
        assert_eq!((hb.offset, hb.data.len()), (4099, 0));
        let mut big = BytesMut::new();
        header(0, 11, &mut big);
        assert_eq!(
            take_transfer(&mut big, 10),
            Err(WireError::TooLarge { size: 11, max: 10 })
        );
        let mut negative = BytesMut::from(&(-1i64).to_be_bytes()[..]);
        negative.put_u32(0);
        assert_eq!(
            take_transfer(&mut negative, 10),
            Err(WireError::Negative("offset"))
        );
    }

    #[test]
    fn only_the_newest_report_counts() {
        let mut buf = BytesMut::new();
        buf.put_slice(&report(5));
        buf.put_slice(&report(9));
        buf.put_slice(&[0, 0]);
        assert_eq!(take_reports(&mut buf), Some(9));
        assert_eq!(buf.len(), 2, "a partial report waits");
    }
}
