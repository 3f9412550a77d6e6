//! The listener registry: ids and subscriptions, behind one mutex.
//!
//! The registry knows which listener hears which name; the functions
//! themselves live with the consumer (the JS heap), keyed by id. The lock is
//! held only to copy or mutate, never while a listener runs, so a listener
//! may subscribe and unsubscribe freely.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Mutex, MutexGuard};

use crate::error::NameError;
use crate::name::validate_name;

/// A listener's id: starts at 1, increases monotonically, never reused.
pub type ListenerId = NonZeroU64;

/// What a listener subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Events with exactly this name.
    Name(Box<str>),
    /// Every event.
    Any,
}

#[derive(Debug, Default)]
struct State {
    /// The id the next listener gets; only ever increases, even across
    /// [`Registry::clear`].
    last_id: u64,
    /// Every live listener and its filter.
    filters: HashMap<u64, Filter>,
    /// Listeners of each name in subscription order; no empty vectors.
    by_name: HashMap<Box<str>, Vec<ListenerId>>,
    /// Listeners of every event in subscription order.
    any: Vec<ListenerId>,
    /// Names in order of their first current listener.
    names: Vec<Box<str>>,
}

/// The registry, locked for the span of one drain: [`Registry::routes`].
/// Which events anyone hears and who hears them are read under this one
/// lock, so an event counted delivered always had a listener when it was
/// taken.
pub(crate) struct Routes<'a> {
    state: MutexGuard<'a, State>,
}

impl Routes<'_> {
    /// Appends the listeners an event named `name` reaches (as
    /// [`Registry::snapshot`] gives them) to `out`; none when nobody hears
    /// it.
    pub(crate) fn append(&self, name: &str, out: &mut Vec<ListenerId>) {
        merge_route(&self.state, name, out);
    }
}

/// The mutex-guarded set of subscriptions of one hub.
///
/// # Examples
/// ```
/// use ffi_events::{Filter, Registry};
/// let registry = Registry::new();
/// let tick = registry.add(Filter::Name("tick".into())).unwrap();
/// let all = registry.add(Filter::Any).unwrap();
/// assert_eq!(registry.snapshot("tick"), vec![tick, all]);
/// assert!(registry.remove(tick.get()));
/// assert!(!registry.remove(tick.get()));
/// ```
#[derive(Debug, Default)]
pub struct Registry {
    state: Mutex<State>,
}

impl Registry {
    /// An empty registry whose first id will be 1.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps half-updated
        // in a way that matters more than losing the registry, so poisoning
        // is ignored rather than spreading the panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Subscribes a listener and returns its new id.
    ///
    /// # Errors
    /// A [`Filter::Name`] with an invalid name is refused and nothing is
    /// registered; the id counter does not move.
    pub fn add(&self, filter: Filter) -> Result<ListenerId, NameError> {
        if let Filter::Name(name) = &filter {
            validate_name(name)?;
        }
        let mut state = self.lock();
        state.last_id += 1;
        let id = ListenerId::new(state.last_id).unwrap_or(ListenerId::MIN);
        match &filter {
            Filter::Name(name) => {
                let listeners = state.by_name.entry(name.clone()).or_default();
                listeners.push(id);
                if listeners.len() == 1 {
                    state.names.push(name.clone());
                }
            }
            Filter::Any => state.any.push(id),
        }
        state.filters.insert(id.get(), filter);
        Ok(id)
    }

    /// Removes the listener `id`; true if it was subscribed.
    ///
    /// Ids 0, never issued or already removed give false.
    pub fn remove(&self, id: u64) -> bool {
        let mut state = self.lock();
        let Some(filter) = state.filters.remove(&id) else {
            return false;
        };
        match filter {
            Filter::Name(name) => {
                let now_empty = match state.by_name.get_mut(&name) {
                    Some(listeners) => {
                        listeners.retain(|l| l.get() != id);
                        listeners.is_empty()
                    }
                    None => false,
                };
                if now_empty {
                    state.by_name.remove(&name);
                    state.names.retain(|n| *n != name);
                }
            }
            Filter::Any => state.any.retain(|l| l.get() != id),
        }
        true
    }

    /// Removes every listener and returns how many there were; the id
    /// counter keeps its value.
    pub fn clear(&self) -> usize {
        let mut state = self.lock();
        let removed = state.filters.len();
        state.filters.clear();
        state.by_name.clear();
        state.any.clear();
        state.names.clear();
        removed
    }

    /// Removes the listeners of `name` (not [`Filter::Any`] ones) and returns
    /// how many there were; other names keep theirs, as with Node's
    /// `emitter.removeAllListeners(name)`.
    ///
    /// # Examples
    /// ```
    /// use ffi_events::{Filter, Registry};
    /// let registry = Registry::new();
    /// registry.add(Filter::Name("tick".into())).unwrap();
    /// registry.add(Filter::Name("tock".into())).unwrap();
    /// let any = registry.add(Filter::Any).unwrap();
    /// assert_eq!(registry.remove_name("tick"), 1);
    /// assert_eq!(registry.count("tock"), 1);
    /// assert!(registry.contains(any.get()));
    /// ```
    pub fn remove_name(&self, name: &str) -> usize {
        let mut state = self.lock();
        let Some(listeners) = state.by_name.remove(name) else {
            return 0;
        };
        for id in &listeners {
            state.filters.remove(&id.get());
        }
        state.names.retain(|n| &**n != name);
        listeners.len()
    }

    /// Locks the registry for a drain, which reads from it which events
    /// are heard and by whom. Hold it only for the drain's planning:
    /// subscribing waits meanwhile.
    pub(crate) fn routes(&self) -> Routes<'_> {
        Routes { state: self.lock() }
    }

    /// Whether `id` is currently subscribed.
    pub fn contains(&self, id: u64) -> bool {
        self.lock().filters.contains_key(&id)
    }

    /// Listeners of `name` (not counting [`Filter::Any`] ones).
    pub fn count(&self, name: &str) -> usize {
        self.lock().by_name.get(name).map_or(0, Vec::len)
    }

    /// Every listener, [`Filter::Any`] ones included.
    pub fn total(&self) -> usize {
        self.lock().filters.len()
    }

    /// Names with at least one listener, in the order they first got one.
    pub fn names(&self) -> Vec<String> {
        self.lock().names.iter().map(|n| n.to_string()).collect()
    }

    /// The listeners an event named `name` reaches, in subscription order:
    /// those of `name` and those of every event, merged by id.
    pub fn snapshot(&self, name: &str) -> Vec<ListenerId> {
        let state = self.lock();
        let mut merged = Vec::new();
        merge_route(&state, name, &mut merged);
        merged
    }
}

/// Appends the listeners an event named `name` reaches, in subscription
/// order: those of `name` and those of every event, merged by id.
fn merge_route(state: &State, name: &str, out: &mut Vec<ListenerId>) {
    let named = state.by_name.get(name).map_or(&[][..], Vec::as_slice);
    let any = &state.any[..];
    out.reserve(named.len() + any.len());
    let (mut i, mut j) = (0, 0);
    while i < named.len() && j < any.len() {
        if named[i] < any[j] {
            out.push(named[i]);
            i += 1;
        } else {
            out.push(any[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&named[i..]);
    out.extend_from_slice(&any[j..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Filter {
        Filter::Name(n.into())
    }

    #[test]
    fn ids_start_at_one_and_increase_across_clear() {
        let registry = Registry::new();
        let first = registry.add(name("a")).unwrap();
        let second = registry.add(Filter::Any).unwrap();
        assert_eq!((first.get(), second.get()), (1, 2));
        assert_eq!(registry.clear(), 2);
        assert_eq!(registry.add(name("a")).unwrap().get(), 3);
    }

    #[test]
    fn removing_zero_unknown_or_removed_ids_is_false() {
        let registry = Registry::new();
        let id = registry.add(name("a")).unwrap();
        assert!(!registry.remove(0));
        assert!(!registry.remove(99));
        assert!(registry.remove(id.get()));
        assert!(!registry.remove(id.get()));
    }

    #[test]
    fn invalid_names_register_nothing_and_burn_no_id() {
        let registry = Registry::new();
        assert_eq!(registry.add(name("")), Err(NameError::Empty));
        assert_eq!(registry.total(), 0);
        assert_eq!(registry.add(name("ok")).unwrap().get(), 1);
    }

    #[test]
    fn snapshot_holds_only_the_name_and_any_listeners_in_id_order() {
        let registry = Registry::new();
        let any1 = registry.add(Filter::Any).unwrap();
        let tick = registry.add(name("tick")).unwrap();
        let _other = registry.add(name("other")).unwrap();
        let any2 = registry.add(Filter::Any).unwrap();
        let tick2 = registry.add(name("tick")).unwrap();
        assert_eq!(registry.snapshot("tick"), vec![any1, tick, any2, tick2]);
        assert_eq!(registry.snapshot("none"), vec![any1, any2]);
    }

    #[test]
    fn removing_one_name_keeps_other_names_and_any_listeners() {
        let registry = Registry::new();
        registry.add(name("tick")).unwrap();
        registry.add(name("tick")).unwrap();
        let tock = registry.add(name("tock")).unwrap();
        let any = registry.add(Filter::Any).unwrap();
        assert_eq!(registry.remove_name("tick"), 2);
        assert_eq!(registry.remove_name("tick"), 0);
        assert_eq!(registry.names(), vec!["tock"]);
        assert_eq!(registry.snapshot("tock"), vec![tock, any]);
        assert_eq!(registry.total(), 2);
        assert_eq!(registry.add(name("tick")).unwrap().get(), 5);
    }

    #[test]
    fn counts_and_names_follow_adds_and_removes() {
        let registry = Registry::new();
        let a = registry.add(name("a")).unwrap();
        registry.add(name("b")).unwrap();
        registry.add(name("a")).unwrap();
        registry.add(Filter::Any).unwrap();
        assert_eq!(registry.count("a"), 2);
        assert_eq!(registry.total(), 4);
        assert_eq!(registry.names(), vec!["a", "b"]);
        registry.remove(a.get());
        assert_eq!(registry.count("a"), 1);
        assert_eq!(registry.names(), vec!["a", "b"]);
    }
}
