//! IMAP backend (being written).
