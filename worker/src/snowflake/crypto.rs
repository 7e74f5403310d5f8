//! Snowflake's client-side encryption of stage files: a fresh content key and IV per object, the
//! content under AES-128-CBC with PKCS#5 padding or AES-256-GCM (the tag after the ciphertext,
//! "AES/GCM/NoPadding" as the additional data), the content key wrapped with AES-ECB (PKCS#5
//! padded) under the stage's master key, as Snowflake's own clients and RustyObjectStore.jl do.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::errors::{ErrorInfo, Kind};
use crate::snowflake::crypter::{cipher_len, Decrypter, Encrypter, Start};

pub const BLOCK: usize = 16;
pub const GCM_TAG: usize = 16;
/// The additional authenticated data of a GCM object (the seed's, its algorithm's name).
pub const GCM_AAD: &[u8] = b"AES/GCM/NoPadding";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Aes128Cbc,
    Aes256Gcm,
}

impl Scheme {
    pub fn parse(name: &str) -> Option<Scheme> {
        match name {
            "AES_128_CBC" => Some(Scheme::Aes128Cbc),
            "AES_256_GCM" => Some(Scheme::Aes256Gcm),
            _ => None,
        }
    }

    pub fn key_len(self) -> usize {
        match self {
            Scheme::Aes128Cbc => 16,
            Scheme::Aes256Gcm => 32,
        }
    }

    pub fn iv_len(self) -> usize {
        match self {
            Scheme::Aes128Cbc => 16,
            Scheme::Aes256Gcm => 12,
        }
    }

    /// The plaintext's length, from the ciphertext's, where the scheme fixes it (GCM adds its tag;
    /// CBC's padding is known only once its last block is decrypted).
    pub fn plain_len(self, cipher_len: u64) -> Option<u64> {
        match self {
            Scheme::Aes256Gcm => Some(cipher_len.saturating_sub(GCM_TAG as u64)),
            Scheme::Aes128Cbc if cipher_len == 0 => Some(0),
            Scheme::Aes128Cbc => None,
        }
    }
}

fn data_error(message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new(Kind::Data, message)
}

/// Key bytes that are wiped when dropped.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn from_base64(text: &str, what: &str) -> Result<Secret, ErrorInfo> {
        BASE64
            .decode(text.trim())
            .map(Secret)
            .map_err(|e| data_error(format!("the {what} is not valid base64: {e}")))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Volatile writes: the compiler may not skip wiping memory that is about to be freed.
        for byte in self.0.iter_mut() {
            // SAFETY: `byte` is a valid, aligned, exclusive reference.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn random(len: usize) -> Result<Vec<u8>, ErrorInfo> {
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        ErrorInfo::new(
            Kind::Unknown,
            format!("no randomness for a content key: {e}"),
        )
    })?;
    Ok(bytes)
}

/// AES-ECB under the master key, with PKCS#5 padding (a 16-byte content key wraps to 32 bytes).
/// The master key's length picks AES-128, -192 or -256.
pub fn wrap_key(master: &Secret, key: &Secret) -> Result<Vec<u8>, ErrorInfo> {
    macro_rules! wrap {
        ($aes:ty) => {
            ecb::Encryptor::<$aes>::new_from_slice(master.bytes())
                .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(key.bytes()))
        };
    }
    match master.bytes().len() {
        16 => wrap!(aes::Aes128),
        24 => wrap!(aes::Aes192),
        32 => wrap!(aes::Aes256),
        _ => return Err(bad_master(master)),
    }
    .map_err(|_| bad_master(master))
}

pub fn unwrap_key(master: &Secret, wrapped: &[u8]) -> Result<Secret, ErrorInfo> {
    macro_rules! unwrap {
        ($aes:ty) => {
            ecb::Decryptor::<$aes>::new_from_slice(master.bytes())
                .map_err(|_| bad_master(master))?
                .decrypt_padded_vec_mut::<Pkcs7>(wrapped)
        };
    }
    let key = match master.bytes().len() {
        16 => unwrap!(aes::Aes128),
        24 => unwrap!(aes::Aes192),
        32 => unwrap!(aes::Aes256),
        _ => return Err(bad_master(master)),
    };
    key.map(Secret).map_err(|_| {
        data_error(
            "the object's wrapped content key does not decrypt under the stage's master key (a \
             wrong key or damaged metadata)",
        )
    })
}

fn bad_master(master: &Secret) -> ErrorInfo {
    data_error(format!(
        "the stage's master key is {} bytes long; AES needs 16, 24 or 32",
        master.bytes().len()
    ))
}

/// One object's content key and IV.
pub struct Material {
    pub scheme: Scheme,
    pub key: Secret,
    pub iv: Vec<u8>,
}

impl Material {
    pub fn fresh(scheme: Scheme) -> Result<Material, ErrorInfo> {
        Ok(Material {
            scheme,
            key: Secret(random(scheme.key_len())?),
            iv: random(scheme.iv_len())?,
        })
    }

    pub fn lengths_error(&self) -> ErrorInfo {
        data_error(format!(
            "the object's {:?} content key is {} bytes and its IV {} bytes; the scheme needs {} \
             and {}",
            self.scheme,
            self.key.bytes().len(),
            self.iv.len(),
            self.scheme.key_len(),
            self.scheme.iv_len()
        ))
    }

    pub fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>, ErrorInfo> {
        let mut encrypter = Encrypter::new(self)?;
        let mut cipher = Vec::with_capacity(cipher_len(self.scheme, plain.len() as u64) as usize);
        encrypter.update(plain, &mut cipher);
        encrypter.finish(&mut cipher);
        Ok(cipher)
    }

    pub fn decrypt(&self, cipher: &[u8]) -> Result<Vec<u8>, ErrorInfo> {
        let mut decrypter = Decrypter::new(self, Start::Beginning, true)?;
        let mut plain = Vec::with_capacity(cipher.len());
        decrypter.update(cipher, &mut plain)?;
        decrypter.finish(&mut plain)?;
        Ok(plain)
    }

    /// How many padding bytes a CBC object ends in, from its last two ciphertext blocks (the
    /// first of them is the IV when the object is one block long).
    pub fn cbc_padding(&self, tail: &[u8]) -> Result<u64, ErrorInfo> {
        let (iv, last) = match tail.len() {
            BLOCK => (self.iv.as_slice(), tail),
            n if n == 2 * BLOCK => tail.split_at(BLOCK),
            n => return Err(data_error(format!("a CBC tail of {n} bytes"))),
        };
        let plain = cbc::Decryptor::<aes::Aes128>::new_from_slices(self.key.bytes(), iv)
            .map_err(|_| self.lengths_error())?
            .decrypt_padded_vec_mut::<Pkcs7>(last)
            .map_err(|_| data_error("the object's last block has bad padding"))?;
        Ok((BLOCK - plain.len()) as u64)
    }
}

pub fn to_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_schemes_round_trip_every_length_around_a_block() {
        for scheme in [Scheme::Aes128Cbc, Scheme::Aes256Gcm] {
            for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 1000] {
                let m = Material::fresh(scheme).expect("randomness");
                let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let cipher = m.encrypt(&plain).expect("encrypts");
                if len > 0 {
                    assert_ne!(cipher[..len], plain[..], "{scheme:?} {len}");
                }
                assert_eq!(m.decrypt(&cipher).expect("decrypts"), plain);
                match scheme.plain_len(cipher.len() as u64) {
                    Some(n) => assert_eq!(n, len as u64),
                    None => {
                        let tail = &cipher[cipher.len().saturating_sub(2 * BLOCK)..];
                        let pad = m.cbc_padding(tail).expect("pads");
                        assert_eq!(cipher.len() as u64 - pad, len as u64);
                    }
                }
            }
        }
    }

    #[test]
    fn a_wrapped_key_unwraps_only_under_its_master_key() {
        let master = Secret(vec![7; 16]);
        let key = Secret(vec![9; 32]);
        let wrapped = wrap_key(&master, &key).expect("wraps");
        assert_eq!(wrapped.len(), 48, "PKCS#5 adds a block");
        assert_eq!(
            unwrap_key(&master, &wrapped).expect("unwraps").bytes(),
            key.bytes()
        );
        let other = Secret(vec![8; 16]);
        assert!(unwrap_key(&other, &wrapped).is_err());
        assert_eq!(
            wrap_key(&Secret(vec![1; 5]), &key).expect_err("short").kind,
            Kind::Data
        );
    }

    #[test]
    fn a_changed_gcm_object_fails_authentication() {
        let m = Material::fresh(Scheme::Aes256Gcm).expect("randomness");
        let mut cipher = m.encrypt(b"hello").expect("encrypts");
        cipher[0] ^= 1;
        let err = m.decrypt(&cipher).expect_err("tampered");
        assert!(err.message.contains("authentication"), "{}", err.message);
    }
}
