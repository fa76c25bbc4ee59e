//! The test PKI: a fresh CA and a server certificate it signed, valid, expired or for the
//! wrong host, so the TLS tests can see twinbox accept the one and refuse the others.

use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509};

/// Which certificate the server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCertificate {
    /// Signed by the test CA, valid now, for `localhost` and `127.0.0.1`.
    Valid,
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, expired yesterday.
    Expired,
    /// Signed by the test CA, valid now, for `wrong.example.invalid` and `192.0.2.1` only.
    WrongHost,
}

/// The test PKI of one server: a CA and the server certificate it signed.
pub(super) struct Certificates {
    pub(super) ca_pem: Vec<u8>,
    pub(super) cert_pem: Vec<u8>,
    pub(super) key_pem: Vec<u8>,
    pub(super) sha256: String,
}

impl Certificates {
    pub(super) fn generate(kind: ServerCertificate) -> Certificates {
        Self::try_generate(kind).expect("generate the test certificates")
    }

    fn try_generate(kind: ServerCertificate) -> Result<Certificates, openssl::error::ErrorStack> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let new_key = || -> Result<PKey<Private>, openssl::error::ErrorStack> {
            PKey::from_ec_key(EcKey::generate(&group)?)
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_secs() as libc::time_t;
        const DAY: libc::time_t = 86_400;
        let serial = || -> Result<Asn1Integer, openssl::error::ErrorStack> {
            let mut bn = BigNum::new()?;
            bn.rand(64, MsbOption::MAYBE_ZERO, false)?;
            bn.to_asn1_integer()
        };

        let ca_key = new_key()?;
        let mut ca_name = X509Name::builder()?;
        ca_name.append_entry_by_nid(Nid::COMMONNAME, "twinbox test CA")?;
        let ca_name = ca_name.build();
        let mut ca = X509::builder()?;
        ca.set_version(2)?;
        let ca_serial = serial()?;
        ca.set_serial_number(&ca_serial)?;
        ca.set_subject_name(&ca_name)?;
        ca.set_issuer_name(&ca_name)?;
        ca.set_pubkey(&ca_key)?;
        let (ca_from, ca_until) = (
            Asn1Time::from_unix(now - DAY)?,
            Asn1Time::from_unix(now + 30 * DAY)?,
        );
        ca.set_not_before(&ca_from)?;
        ca.set_not_after(&ca_until)?;
        ca.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        ca.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&ca.x509v3_context(None, None))?;
        ca.append_extension(ski)?;
        ca.sign(&ca_key, MessageDigest::sha256())?;
        let ca = ca.build();

        let (host, ip) = match kind {
            ServerCertificate::WrongHost => ("wrong.example.invalid", "192.0.2.1"),
            _ => ("localhost", "127.0.0.1"),
        };
        let (not_before, not_after) = match kind {
            ServerCertificate::Expired => (now - 30 * DAY, now - DAY),
            _ => (now - DAY, now + 30 * DAY),
        };
        let key = new_key()?;
        let mut name = X509Name::builder()?;
        name.append_entry_by_nid(Nid::COMMONNAME, host)?;
        let name = name.build();
        let mut cert = X509::builder()?;
        cert.set_version(2)?;
        let cert_serial = serial()?;
        cert.set_serial_number(&cert_serial)?;
        cert.set_subject_name(&name)?;
        cert.set_issuer_name(ca.subject_name())?;
        cert.set_pubkey(&key)?;
        let (from, until) = (
            Asn1Time::from_unix(not_before)?,
            Asn1Time::from_unix(not_after)?,
        );
        cert.set_not_before(&from)?;
        cert.set_not_after(&until)?;
        cert.append_extension(BasicConstraints::new().build()?)?;
        cert.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        cert.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        let san = SubjectAlternativeName::new()
            .dns(host)
            .ip(ip)
            .build(&cert.x509v3_context(Some(&ca), None))?;
        cert.append_extension(san)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&cert.x509v3_context(Some(&ca), None))?;
        cert.append_extension(aki)?;
        cert.sign(&ca_key, MessageDigest::sha256())?;
        let cert = cert.build();

        let sha256 = hex(&cert.digest(MessageDigest::sha256())?);
        Ok(Certificates {
            ca_pem: ca.to_pem()?,
            cert_pem: cert.to_pem()?,
            key_pem: key.private_key_to_pem_pkcs8()?,
            sha256,
        })
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
