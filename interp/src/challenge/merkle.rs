//! The Merkle trees of the dispute game, exactly as arbitrum-classic's `MerkleLib` builds and
//! checks them: a layer of an odd number of hashes carries its last one up unhashed, and a route
//! bit of 0 puts the hash so far on the right (`keccak(node ‖ h)`), 1 on the left.

use avm_runtime::U256;
use avm_runtime::hash::{be32, keccak};

/// The root over `leaves` (`MerkleLib.generateRoot`); `None` for no leaves, where the contract
/// reverts.
pub fn root(leaves: &[U256]) -> Option<U256> {
    let mut layer = leaves.to_vec();
    while layer.len() > 1 {
        layer = parent_layer(&layer);
    }
    layer.first().copied()
}

/// The layer above `layer`: each pair hashed, an odd last hash carried up unhashed.
fn parent_layer(layer: &[U256]) -> Vec<U256> {
    layer
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => pair_hash(left, right),
            [alone] => *alone,
            _ => unreachable!("chunks of two"),
        })
        .collect()
}

/// A path from a leaf to the root: the sibling hashes met on the way up, and a bit per sibling
/// saying which side the path is on (`MerkleLib.calculateRoot`'s `nodes` and `route`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// Sibling hashes, bottom up.
    pub nodes: Vec<U256>,
    /// Bit `i`: 1 when the path is the left child at sibling `i`, 0 when the right.
    pub route: U256,
}

impl Route {
    /// The route from leaf `index` of `leaves` to their [`root`]; `None` past the leaves.
    pub fn to_leaf(leaves: &[U256], index: usize) -> Option<Route> {
        if index >= leaves.len() {
            return None;
        }
        let mut route = Route::default();
        let (mut layer, mut at) = (leaves.to_vec(), index);
        while layer.len() > 1 {
            let carried_up = at + 1 == layer.len() && layer.len() % 2 == 1;
            if !carried_up {
                if at % 2 == 0 {
                    route.route |= U256::one() << route.nodes.len();
                }
                route.nodes.push(layer[at ^ 1]);
            }
            layer = parent_layer(&layer);
            at /= 2;
        }
        Some(route)
    }

    /// The root this route leads to from `item` (`MerkleLib.calculateRoot`); `None` for more
    /// than 256 nodes, where the contract reverts.
    pub fn root_from(&self, item: U256) -> Option<U256> {
        if self.nodes.len() > 256 {
            return None;
        }
        let mut route = self.route;
        let mut hash = item;
        for node in &self.nodes {
            hash = match route.bit(0) {
                false => pair_hash(node, &hash),
                true => pair_hash(&hash, node),
            };
            route >>= 1;
        }
        Some(hash)
    }
}

/// `keccak(left ‖ right)`.
fn pair_hash(left: &U256, right: &U256) -> U256 {
    keccak(&[&be32(left), &be32(right)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<U256> {
        (0..n)
            .map(|i| keccak(&[&(i as u64).to_be_bytes()]))
            .collect()
    }

    #[test]
    fn roots_pair_left_to_right_and_carry_an_odd_last_leaf_up() {
        let l = leaves(3);
        assert_eq!(root(&[]), None);
        assert_eq!(root(&l[..1]), Some(l[0]));
        assert_eq!(root(&l[..2]), Some(pair_hash(&l[0], &l[1])));
        assert_eq!(root(&l), Some(pair_hash(&pair_hash(&l[0], &l[1]), &l[2])));
    }

    #[test]
    fn every_leaf_routes_to_the_root_and_no_other_leaf_does() {
        for n in 1..=20 {
            let l = leaves(n);
            let top = root(&l).unwrap();
            for (i, leaf) in l.iter().enumerate() {
                let route = Route::to_leaf(&l, i).unwrap();
                assert_eq!(route.root_from(*leaf), Some(top), "leaf {i} of {n}");
                let other = l[(i + 1) % n];
                if n > 1 {
                    assert_ne!(route.root_from(other), Some(top), "leaf {i} of {n}");
                }
            }
            assert_eq!(Route::to_leaf(&l, n), None);
        }
    }

    #[test]
    fn a_leaf_alone_is_its_own_root_with_an_empty_route() {
        let l = leaves(1);
        assert_eq!(Route::to_leaf(&l, 0), Some(Route::default()));
        assert_eq!(Route::default().root_from(l[0]), Some(l[0]));
    }

    #[test]
    fn a_flipped_route_bit_leads_elsewhere() {
        let l = leaves(8);
        let mut route = Route::to_leaf(&l, 5).unwrap();
        route.route ^= U256::one() << 1;
        assert_ne!(route.root_from(l[5]), root(&l));
    }
}
