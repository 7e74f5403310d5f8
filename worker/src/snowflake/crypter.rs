//! Snowflake's stage encryption applied piece by piece as the bytes pass, so that an object of any
//! size is encrypted and decrypted in bounded memory: the same bytes as encrypting it whole.
//!
//! CBC chains block to block, so a decryption may start at any block given the one before it.
//! GCM is counter mode with one tag over the whole ciphertext (GHASH of the additional data and
//! the ciphertext): its keystream can start anywhere, but only a pass over every byte checks the
//! tag, so a GCM decryption always starts at the beginning.

use aes::cipher::{
    BlockDecryptMut, BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit, StreamCipher,
};
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use subtle::ConstantTimeEq;

use crate::errors::{ErrorInfo, Kind};
use crate::snowflake::crypto::{Material, Scheme, BLOCK, GCM_AAD, GCM_TAG};

type Block = aes::Block;

fn data_error(message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new(Kind::Data, message)
}

// SAFETY (both): a `Block` is a `GenericArray<u8, U16>`, laid out as `[u8; 16]` with alignment 1;
// the slice holds `len / 16` of them, and its borrow is the borrow of `bytes`.

/// `bytes`, a whole number of blocks, as blocks.
fn as_blocks(bytes: &mut [u8]) -> &mut [Block] {
    debug_assert_eq!(bytes.len() % BLOCK, 0);
    unsafe {
        std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<Block>(), bytes.len() / BLOCK)
    }
}

fn as_blocks_ref(bytes: &[u8]) -> &[Block] {
    debug_assert_eq!(bytes.len() % BLOCK, 0);
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<Block>(), bytes.len() / BLOCK) }
}

/// GCM's keystream and its running GHASH over the ciphertext, as aes-gcm computes them for a
/// 96-bit IV: the keystream starts at counter 2, the tag is GHASH xor the keystream at counter 1.
struct Gcm {
    keystream: ctr::Ctr32BE<aes::Aes256>,
    ghash: GHash,
    mask: Block,
    /// Ciphertext not yet hashed, less than a block.
    partial: Vec<u8>,
    hashed: u64,
}

impl Gcm {
    fn new(material: &Material) -> Result<Gcm, ErrorInfo> {
        let wrong = || material.lengths_error();
        let aes = aes::Aes256::new_from_slice(material.key.bytes()).map_err(|_| wrong())?;
        if material.iv.len() != 12 {
            return Err(wrong());
        }
        let mut h = Block::default();
        aes.encrypt_block(&mut h);
        let mut ghash = GHash::new(&h);
        ghash.update_padded(GCM_AAD);
        let mut j0 = [0u8; BLOCK];
        j0[..12].copy_from_slice(&material.iv);
        j0[BLOCK - 1] = 1;
        let mut keystream = ctr::Ctr32BE::<aes::Aes256>::new_from_slices(material.key.bytes(), &j0)
            .map_err(|_| wrong())?;
        let mut mask = Block::default();
        keystream.apply_keystream(&mut mask);
        Ok(Gcm {
            keystream,
            ghash,
            mask,
            partial: Vec::with_capacity(BLOCK),
            hashed: 0,
        })
    }

    fn hash(&mut self, mut cipher: &[u8]) {
        self.hashed += cipher.len() as u64;
        if !self.partial.is_empty() {
            let take = (BLOCK - self.partial.len()).min(cipher.len());
            self.partial.extend_from_slice(&cipher[..take]);
            cipher = &cipher[take..];
            if self.partial.len() < BLOCK {
                return;
            }
            self.ghash.update(&[Block::clone_from_slice(&self.partial)]);
            self.partial.clear();
        }
        let whole = cipher.len() / BLOCK * BLOCK;
        self.ghash.update(as_blocks_ref(&cipher[..whole]));
        self.partial.extend_from_slice(&cipher[whole..]);
    }

    fn tag(mut self) -> Block {
        self.ghash.update_padded(&self.partial);
        let bits = (u128::from(GCM_AAD.len() as u64 * 8) << 64) | u128::from(self.hashed * 8);
        self.ghash.update(&[Block::from(bits.to_be_bytes())]);
        let mut tag = self.ghash.finalize();
        for (t, m) in tag.iter_mut().zip(self.mask.iter()) {
            *t ^= m;
        }
        tag
    }
}

/// The size of the ciphertext of `plain_len` bytes.
pub fn cipher_len(scheme: Scheme, plain_len: u64) -> u64 {
    match scheme {
        Scheme::Aes128Cbc => (plain_len / BLOCK as u64 + 1) * BLOCK as u64,
        Scheme::Aes256Gcm => plain_len + GCM_TAG as u64,
    }
}

// One of these per object moving: its size does not matter, a box would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Encrypting {
    Cbc(cbc::Encryptor<aes::Aes128>),
    Gcm(Gcm),
}

/// Encrypts an object's bytes as they come: `update` with each piece, `finish` once at the end.
pub struct Encrypter {
    cipher: Encrypting,
    /// CBC: plaintext short of a block, kept for the next piece.
    carry: Vec<u8>,
}

impl Encrypter {
    pub fn new(material: &Material) -> Result<Encrypter, ErrorInfo> {
        let cipher = match material.scheme {
            Scheme::Aes128Cbc => Encrypting::Cbc(
                cbc::Encryptor::new_from_slices(material.key.bytes(), &material.iv)
                    .map_err(|_| material.lengths_error())?,
            ),
            Scheme::Aes256Gcm => Encrypting::Gcm(Gcm::new(material)?),
        };
        Ok(Encrypter {
            cipher,
            carry: Vec::with_capacity(BLOCK),
        })
    }

    /// Appends the ciphertext of `plain` (as much as is whole so far) to `out`.
    pub fn update(&mut self, plain: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        match &mut self.cipher {
            Encrypting::Cbc(cbc) => {
                let whole = (self.carry.len() + plain.len()) / BLOCK * BLOCK;
                let from_plain = whole.saturating_sub(self.carry.len());
                if whole > 0 {
                    out.extend_from_slice(&self.carry);
                    out.extend_from_slice(&plain[..from_plain]);
                    self.carry.clear();
                    cbc.encrypt_blocks_mut(as_blocks(&mut out[start..]));
                }
                self.carry.extend_from_slice(&plain[from_plain..]);
            }
            Encrypting::Gcm(gcm) => {
                out.extend_from_slice(plain);
                gcm.keystream.apply_keystream(&mut out[start..]);
                gcm.hash(&out[start..]);
            }
        }
    }

    /// Appends the end of the ciphertext: CBC's padded last block, GCM's tag.
    pub fn finish(self, out: &mut Vec<u8>) {
        match self.cipher {
            Encrypting::Cbc(mut cbc) => {
                let pad = BLOCK - self.carry.len();
                let mut last = Block::default();
                last[..self.carry.len()].copy_from_slice(&self.carry);
                last[self.carry.len()..].fill(pad as u8);
                cbc.encrypt_block_mut(&mut last);
                out.extend_from_slice(&last);
            }
            Encrypting::Gcm(gcm) => out.extend_from_slice(&gcm.tag()),
        }
    }
}

/// Where a decryption starts: at the object's first byte, or (CBC) at a block whose predecessor
/// comes first in the bytes given, as the chaining value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    AfterChainBlock,
}

#[allow(clippy::large_enum_variant)]
enum Decrypting {
    /// `None` until the chaining block has come.
    Cbc(Option<cbc::Decryptor<aes::Aes128>>),
    Gcm(Gcm),
}

/// Decrypts an object's bytes as they come. Held back until `finish`, so that a reader never has
/// the whole plaintext of an object that does not check: CBC's last block when the padding is to
/// be taken off, GCM's last 17 bytes (the tag and the byte before it).
pub struct Decrypter {
    cipher: Decrypting,
    key: Vec<u8>,
    held: Vec<u8>,
    /// CBC: the bytes end at the object's end, so the last block is padded.
    unpad: bool,
    taken: u64,
}

impl Decrypter {
    /// `unpad`: the bytes end where the object does (GCM always reads to the end).
    pub fn new(material: &Material, start: Start, unpad: bool) -> Result<Decrypter, ErrorInfo> {
        let cipher = match (material.scheme, start) {
            (Scheme::Aes128Cbc, Start::Beginning) => Decrypting::Cbc(Some(
                cbc::Decryptor::new_from_slices(material.key.bytes(), &material.iv)
                    .map_err(|_| material.lengths_error())?,
            )),
            (Scheme::Aes128Cbc, Start::AfterChainBlock) => {
                if material.key.bytes().len() != 16 {
                    return Err(material.lengths_error());
                }
                Decrypting::Cbc(None)
            }
            (Scheme::Aes256Gcm, Start::Beginning) => Decrypting::Gcm(Gcm::new(material)?),
            (Scheme::Aes256Gcm, Start::AfterChainBlock) => {
                return Err(ErrorInfo::new(
                    Kind::Unknown,
                    "a GCM object decrypts only from its beginning",
                ))
            }
        };
        Ok(Decrypter {
            cipher,
            key: material.key.bytes().to_vec(),
            held: Vec::with_capacity(2 * BLOCK),
            unpad,
            taken: 0,
        })
    }

    /// Appends the plaintext of `cipher` (as much as may be given out so far) to `out`.
    pub fn update(&mut self, cipher: &[u8], out: &mut Vec<u8>) -> Result<(), ErrorInfo> {
        self.taken += cipher.len() as u64;
        let mut cipher = cipher;
        if let Decrypting::Cbc(None) = self.cipher {
            let take = (BLOCK - self.held.len()).min(cipher.len());
            self.held.extend_from_slice(&cipher[..take]);
            cipher = &cipher[take..];
            if self.held.len() < BLOCK {
                return Ok(());
            }
            let chain = std::mem::take(&mut self.held);
            self.cipher = Decrypting::Cbc(Some(
                cbc::Decryptor::new_from_slices(&self.key, &chain)
                    .map_err(|_| data_error("the object's content key is not an AES-128 key"))?,
            ));
        }
        let start = out.len();
        out.extend_from_slice(&self.held);
        out.extend_from_slice(cipher);
        self.held.clear();
        let len = out.len() - start;
        let release = match &self.cipher {
            // The last block may be the padded one: it waits for the next piece or the end.
            Decrypting::Cbc(_) if self.unpad => len.saturating_sub(1) / BLOCK * BLOCK,
            Decrypting::Cbc(_) => len / BLOCK * BLOCK,
            // The tag, and one byte before it, so that the end is given only once it checks.
            Decrypting::Gcm(_) => len.saturating_sub(GCM_TAG + 1),
        };
        self.held.extend_from_slice(&out[start + release..]);
        out.truncate(start + release);
        let piece = &mut out[start..];
        match &mut self.cipher {
            Decrypting::Cbc(Some(cbc)) => cbc.decrypt_blocks_mut(as_blocks(piece)),
            Decrypting::Cbc(None) => {}
            Decrypting::Gcm(gcm) => {
                gcm.hash(piece);
                gcm.keystream.apply_keystream(piece);
            }
        }
        Ok(())
    }

    /// Appends the rest of the plaintext, once the padding or the tag is checked.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), ErrorInfo> {
        match self.cipher {
            // Snowflake's clients write a zero-length object without a padding block.
            Decrypting::Cbc(_) if self.taken == 0 => Ok(()),
            Decrypting::Cbc(Some(mut cbc)) if self.unpad && self.held.len() == BLOCK => {
                let mut last = Block::clone_from_slice(&self.held);
                cbc.decrypt_block_mut(&mut last);
                let pad = usize::from(last[BLOCK - 1]);
                if pad == 0
                    || pad > BLOCK
                    || last[BLOCK - pad..].iter().any(|&b| usize::from(b) != pad)
                {
                    return Err(data_error(
                        "the object does not decrypt (AES-128-CBC): its last block has bad \
                         padding (a wrong key or a damaged object)",
                    ));
                }
                out.extend_from_slice(&last[..BLOCK - pad]);
                Ok(())
            }
            Decrypting::Cbc(Some(_)) if !self.unpad && self.held.is_empty() => Ok(()),
            Decrypting::Cbc(_) => Err(data_error(format!(
                "the object does not decrypt (AES-128-CBC): {} bytes read, not a whole number of \
                 16-byte blocks",
                self.taken
            ))),
            Decrypting::Gcm(mut gcm) if self.held.len() >= GCM_TAG => {
                let (last, tag) = self.held.split_at(self.held.len() - GCM_TAG);
                let mut last = last.to_vec();
                gcm.hash(&last);
                gcm.keystream.apply_keystream(&mut last);
                // Compared in constant time: the tag is what a forger would guess at.
                if bool::from(gcm.tag().as_slice().ct_eq(tag)) {
                    out.extend_from_slice(&last);
                    Ok(())
                } else {
                    Err(data_error(
                        "the object fails its AES-GCM authentication: it was changed or damaged, \
                         or the key is wrong",
                    ))
                }
            }
            Decrypting::Gcm(_) => Err(data_error(format!(
                "the object does not decrypt (AES-256-GCM): {} bytes, shorter than its tag",
                self.taken
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use aes::cipher::block_padding::Pkcs7;
    use aes_gcm::aead::{Aead, Payload};

    use super::*;

    /// The whole-object encryption of the crates this file stands in for.
    fn reference(material: &Material, plain: &[u8]) -> Vec<u8> {
        match material.scheme {
            Scheme::Aes128Cbc => {
                cbc::Encryptor::<aes::Aes128>::new_from_slices(material.key.bytes(), &material.iv)
                    .expect("key")
                    .encrypt_padded_vec_mut::<Pkcs7>(plain)
            }
            Scheme::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(material.key.bytes())
                .expect("key")
                .encrypt(
                    aes_gcm::Nonce::from_slice(&material.iv),
                    Payload {
                        msg: plain,
                        aad: GCM_AAD,
                    },
                )
                .expect("encrypts"),
        }
    }

    fn in_pieces(len: usize, piece: usize) -> Vec<std::ops::Range<usize>> {
        (0..len.div_ceil(piece.max(1)).max(1))
            .map(|i| i * piece..((i + 1) * piece).min(len))
            .collect()
    }

    #[test]
    fn pieces_of_any_size_give_the_whole_object_bytes_both_ways() {
        for scheme in [Scheme::Aes128Cbc, Scheme::Aes256Gcm] {
            for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
                let m = Material::fresh(scheme).expect("randomness");
                let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let whole = reference(&m, &plain);
                assert_eq!(whole.len() as u64, cipher_len(scheme, len as u64));
                for piece in [1usize, 3, 16, 17, 64, 1000] {
                    let mut e = Encrypter::new(&m).expect("encrypter");
                    let mut cipher = Vec::new();
                    for r in in_pieces(len, piece) {
                        e.update(&plain[r], &mut cipher);
                    }
                    e.finish(&mut cipher);
                    assert_eq!(cipher, whole, "{scheme:?} {len} by {piece}");
                    let mut d = Decrypter::new(&m, Start::Beginning, true).expect("decrypter");
                    let mut back = Vec::new();
                    for r in in_pieces(whole.len(), piece) {
                        d.update(&whole[r], &mut back).expect("update");
                    }
                    d.finish(&mut back).expect("finish");
                    assert_eq!(back, plain, "{scheme:?} {len} by {piece}");
                }
            }
        }
    }

    #[test]
    fn cbc_decrypts_from_any_block_given_the_one_before() {
        let m = Material::fresh(Scheme::Aes128Cbc).expect("randomness");
        let plain: Vec<u8> = (0..200).map(|i| i as u8).collect();
        let cipher = reference(&m, &plain);
        for block in 1..cipher.len() / BLOCK {
            let mut d = Decrypter::new(&m, Start::AfterChainBlock, false).expect("decrypter");
            let mut out = Vec::new();
            for piece in cipher[(block - 1) * BLOCK..].chunks(7) {
                d.update(piece, &mut out).expect("update");
            }
            d.finish(&mut out).expect("finish");
            let from = block * BLOCK;
            assert_eq!(
                out[..plain.len() - from],
                plain[from..],
                "from block {block}"
            );
        }
    }

    #[test]
    fn damage_is_a_data_error_and_nothing_after_it_is_given() {
        for scheme in [Scheme::Aes128Cbc, Scheme::Aes256Gcm] {
            let m = Material::fresh(scheme).expect("randomness");
            let plain = vec![5u8; 100];
            let mut cipher = reference(&m, &plain);
            let last = cipher.len() - 1;
            cipher[last] ^= 1;
            let mut d = Decrypter::new(&m, Start::Beginning, true).expect("decrypter");
            let mut out = Vec::new();
            d.update(&cipher, &mut out).expect("update");
            assert!(
                out.len() < plain.len(),
                "{scheme:?}: the end waits for the check"
            );
            let err = d.finish(&mut out).expect_err("damaged");
            assert_eq!(err.kind, Kind::Data);
            let mut short = Decrypter::new(&m, Start::Beginning, true).expect("decrypter");
            short
                .update(&cipher[..cipher.len() - 3], &mut out)
                .expect("update");
            assert_eq!(short.finish(&mut out).expect_err("short").kind, Kind::Data);
        }
    }
}
