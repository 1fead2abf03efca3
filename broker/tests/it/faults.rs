//! Bad conditions: a full disk, a directory the process may not write.
