//! SIGINT and SIGTERM as requests to stop: a long command notices one at its next step
//! boundary, saves what it must and reports. A second signal while the first is pending ends
//! the process at once, with the conventional status.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::out::{Exit, Failure};

/// The termination signals a command stops for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C.
    Interrupt,
    /// What service managers send.
    Terminate,
}

impl Signal {
    /// How the process exits after stopping for this signal.
    pub fn exit(self) -> Exit {
        match self {
            Signal::Interrupt => Exit::Interrupted,
            Signal::Terminate => Exit::Terminated,
        }
    }

    /// The word reports use.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupt",
            Signal::Terminate => "terminate",
        }
    }
}

/// The signals that arrived since [`StopRequests::install`], newest winning.
#[derive(Clone, Debug)]
pub struct StopRequests {
    /// 0: none; otherwise the raw signal number.
    which: Arc<AtomicUsize>,
}

impl StopRequests {
    /// Catches SIGINT and SIGTERM for the rest of the process.
    pub fn install() -> Result<StopRequests, Failure> {
        let which = Arc::new(AtomicUsize::new(0));
        let pending = Arc::new(AtomicBool::new(false));
        for (signal, exit) in [(SIGINT, Exit::Interrupted), (SIGTERM, Exit::Terminated)] {
            let register = || -> std::io::Result<()> {
                // The shutdown goes first: it fires only on a signal after the first.
                signal_hook::flag::register_conditional_shutdown(
                    signal,
                    i32::from(exit.code()),
                    Arc::clone(&pending),
                )?;
                signal_hook::flag::register(signal, Arc::clone(&pending))?;
                signal_hook::flag::register_usize(signal, Arc::clone(&which), signal as usize)?;
                Ok(())
            };
            register().map_err(|e| Failure::engine("signals", e))?;
        }
        Ok(StopRequests { which })
    }

    /// The signal that asked the command to stop, if one did.
    pub fn pending(&self) -> Option<Signal> {
        match self.which.load(Ordering::SeqCst) as i32 {
            0 => None,
            SIGTERM => Some(Signal::Terminate),
            _ => Some(Signal::Interrupt),
        }
    }
}
