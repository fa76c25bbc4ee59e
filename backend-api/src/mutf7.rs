//! Modified UTF-7 (RFC 3501 section 5.1.3), the encoding of IMAP mailbox names
//! (being written).
