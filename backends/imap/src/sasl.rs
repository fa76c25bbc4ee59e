//! The client side of the SASL mechanisms we speak: the strings themselves (pure
//! functions, tested against the RFCs' examples) and the `imap::Authenticator`s that
//! send them.
//!
//! The `imap` crate base64-encodes whatever an authenticator returns and decodes each
//! server challenge before handing it over.

use std::cell::Cell;

use crate::options::Secret;

/// PLAIN (RFC 4616): `authzid NUL authcid NUL password`, with an empty authzid.
pub(crate) fn plain_response(user: &str, password: &str) -> Vec<u8> {
    let mut response = Vec::with_capacity(user.len() + password.len() + 2);
    response.push(0);
    response.extend_from_slice(user.as_bytes());
    response.push(0);
    response.extend_from_slice(password.as_bytes());
    response
}

/// CRAM-MD5 (RFC 2195): `user SP lowercase-hex(HMAC-MD5(password, challenge))`.
pub(crate) fn cram_md5_response(user: &str, password: &str, challenge: &[u8]) -> String {
    let digest = hmac_md5(password.as_bytes(), challenge);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{user} {hex}")
}

/// HMAC (RFC 2104) over MD5.
fn hmac_md5(key: &[u8], message: &[u8]) -> [u8; 16] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..16].copy_from_slice(&md5::compute(key).0);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = md5::Context::new();
    inner.consume(block.map(|b| b ^ 0x36));
    inner.consume(message);
    let inner = inner.compute();
    let mut outer = md5::Context::new();
    outer.consume(block.map(|b| b ^ 0x5c));
    outer.consume(inner.0);
    outer.compute().0
}

/// XOAUTH2 (Google's and Microsoft's): `user=U ^A auth=Bearer T ^A ^A`.
pub(crate) fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// OAUTHBEARER (RFC 7628): a GS2 header naming the user, then host, port and token.
pub(crate) fn oauthbearer_response(user: &str, host: &str, port: u16, token: &str) -> String {
    // RFC 5801 saslname: ',' and '=' are escaped.
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
}

/// AUTHENTICATE PLAIN.
pub(crate) struct PlainAuth<'a> {
    pub user: &'a str,
    pub password: &'a Secret,
}

impl imap::Authenticator for PlainAuth<'_> {
    type Response = Vec<u8>;
    fn process(&self, _challenge: &[u8]) -> Vec<u8> {
        plain_response(self.user, self.password.expose())
    }
}

/// AUTHENTICATE CRAM-MD5.
pub(crate) struct CramMd5Auth<'a> {
    pub user: &'a str,
    pub password: &'a Secret,
}

impl imap::Authenticator for CramMd5Auth<'_> {
    type Response = String;
    fn process(&self, challenge: &[u8]) -> String {
        cram_md5_response(self.user, self.password.expose(), challenge)
    }
}

/// AUTHENTICATE XOAUTH2 or OAUTHBEARER. A server refusing the token sends one more
/// challenge (a JSON error); the answer to it is an empty response (XOAUTH2) or a single
/// `^A` (OAUTHBEARER), after which the server sends its tagged NO.
pub(crate) struct OAuthAuth {
    pub initial: String,
    pub after_error: &'static str,
    pub sent: Cell<bool>,
}

impl OAuthAuth {
    pub fn xoauth2(user: &str, token: &Secret) -> OAuthAuth {
        OAuthAuth {
            initial: xoauth2_response(user, token.expose()),
            after_error: "",
            sent: Cell::new(false),
        }
    }

    pub fn oauthbearer(user: &str, host: &str, port: u16, token: &Secret) -> OAuthAuth {
        OAuthAuth {
            initial: oauthbearer_response(user, host, port, token.expose()),
            after_error: "\x01",
            sent: Cell::new(false),
        }
    }
}

impl imap::Authenticator for OAuthAuth {
    type Response = String;
    fn process(&self, challenge: &[u8]) -> String {
        if self.sent.replace(true) {
            log::debug!(
                "the server refused the OAuth2 token: {}",
                String::from_utf8_lossy(challenge)
            );
            self.after_error.to_owned()
        } else {
            self.initial.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap::Authenticator;

    #[test]
    fn plain() {
        assert_eq!(
            plain_response("tim", "tanstaaf"),
            b"\0tim\0tanstaaf".to_vec()
        );
        let password = Secret::new("pw");
        let auth = PlainAuth {
            user: "ü",
            password: &password,
        };
        assert_eq!(auth.process(b""), "\0ü\0pw".as_bytes().to_vec());
    }

    #[test]
    fn cram_md5_rfc_2195_example() {
        assert_eq!(
            cram_md5_response(
                "tim",
                "tanstaaftanstaaf",
                b"<1896.697170952@postoffice.reston.mci.net>"
            ),
            "tim b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn hmac_md5_rfc_2104_vectors() {
        let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(hmac_md5(&[0x0b; 16], b"Hi There")),
            "9294727a3638bb1c13f48ef8158bfc9d"
        );
        assert_eq!(
            hex(hmac_md5(b"Jefe", b"what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        // A key longer than the block is hashed first (RFC 2202 test case 6).
        assert_eq!(
            hex(hmac_md5(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
    }

    #[test]
    fn xoauth2() {
        assert_eq!(
            xoauth2_response("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
            "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        let token = Secret::new("tok");
        let auth = OAuthAuth::xoauth2("u@example.com", &token);
        assert_eq!(
            auth.process(b""),
            "user=u@example.com\x01auth=Bearer tok\x01\x01"
        );
        // The error challenge is answered with an empty response.
        assert_eq!(auth.process(br#"{"status":"401"}"#), "");
    }

    #[test]
    fn oauthbearer_rfc_7628_example() {
        // RFC 7628 section 4.1 (the example's line breaks are for display only).
        assert_eq!(
            oauthbearer_response("user@example.com", "server.example.com", 143, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
            "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert!(oauthbearer_response("a,b=c", "h", 993, "t").starts_with("n,a=a=2Cb=3Dc,\x01"));
        let token = Secret::new("t");
        let auth = OAuthAuth::oauthbearer("u", "h", 993, &token);
        assert!(auth.process(b"").starts_with("n,a=u,"));
        assert_eq!(auth.process(b"{}"), "\x01");
    }
}
