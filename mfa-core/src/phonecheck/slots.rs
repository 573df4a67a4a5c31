//! Connection slots for `mfa serve`, per client address and in total.
//!
//! One global cap let a single client hold every slot with idle sockets
//! and starve the real callbacks (an outside review did exactly that: 74 of
//! 75 callbacks refused). Each address now gets a few slots of its own; the
//! total still bounds the process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections one address may hold at once. A phone opens one or two.
pub const PER_ADDRESS: usize = 4;
/// Connections served at once, all addresses together.
pub const TOTAL: usize = 256;

#[derive(Debug, Default)]
struct Table {
    by_address: HashMap<IpAddr, usize>,
    total: usize,
}

/// The slot table; cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct ConnectionSlots {
    table: Arc<Mutex<Table>>,
    per_address: usize,
    total: usize,
}

/// One connection's slot, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    table: Arc<Mutex<Table>>,
    address: IpAddr,
}

impl ConnectionSlots {
    pub fn new(per_address: usize, total: usize) -> Self {
        Self {
            table: Arc::default(),
            per_address,
            total,
        }
    }

    /// A slot for a connection from `address`, or `None` when that address
    /// or the whole server is at its limit (the caller closes the socket).
    pub fn try_acquire(&self, address: IpAddr) -> Option<Slot> {
        self.try_acquire_within(address, self.per_address)
    }

    /// [`ConnectionSlots::try_acquire`] with this address's own limit (a
    /// trusted reverse proxy carries every client's connections).
    pub fn try_acquire_within(&self, address: IpAddr, per_address: usize) -> Option<Slot> {
        let mut t = self.table.lock().ok()?;
        let held = t.by_address.get(&address).copied().unwrap_or(0);
        if held >= per_address || t.total >= self.total {
            return None;
        }
        t.by_address.insert(address, held + 1);
        t.total += 1;
        Some(Slot {
            table: Arc::clone(&self.table),
            address,
        })
    }

    /// Connections held now by `address`.
    pub fn held_by(&self, address: IpAddr) -> usize {
        self.table
            .lock()
            .map(|t| t.by_address.get(&address).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut t) = self.table.lock() {
            t.total = t.total.saturating_sub(1);
            if let Some(n) = t.by_address.get_mut(&self.address) {
                *n -= 1;
                if *n == 0 {
                    t.by_address.remove(&self.address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_every_slot() {
        let slots = ConnectionSlots::new(2, 3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        let a1 = slots.try_acquire(a).unwrap();
        let _a2 = slots.try_acquire(a).unwrap();
        assert!(slots.try_acquire(a).is_none(), "per-address cap");
        let _b1 = slots.try_acquire(b).unwrap();
        assert!(slots.try_acquire(c).is_none(), "total cap");
        drop(a1);
        assert_eq!(slots.held_by(a), 1);
        assert!(
            slots.try_acquire(c).is_some(),
            "a released slot is reusable"
        );
        assert_eq!(slots.held_by(c), 0, "and given back on drop");
    }
}
