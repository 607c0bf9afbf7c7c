//! Randomness, injected.

/// Randomness, injected so ids, secrets and jitter are reproducible in
/// tests. The real one must be a cryptographic RNG: it makes secrets.
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A uniform sample in `[0, 1)`.
    fn unit(&self) -> f64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        // 53 random bits, the precision of an f64 mantissa.
        (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Ten random bytes, the random part of an id.
    fn id_bytes(&self) -> [u8; 10] {
        let mut b = [0u8; 10];
        self.fill(&mut b);
        b
    }

    /// Random bytes for a new secret.
    fn secret_bytes(&self) -> [u8; crate::signing::GENERATED_SECRET_BYTES] {
        let mut b = [0u8; crate::signing::GENERATED_SECRET_BYTES];
        self.fill(&mut b);
        b
    }
}

/// The operating system's CSPRNG, through rand's thread-local ChaCha
/// generator (reseeded from the OS).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        use rand::RngCore;
        rand::rng().fill_bytes(buf);
    }
}
