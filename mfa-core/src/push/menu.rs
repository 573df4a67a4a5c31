//! The device/factor menu built from preauth's devices, and the reading of
//! an answer: an option number, or a passcode typed at the same prompt.

use crate::push::duo::{AuthFactor, Device};
use crate::sanitize::strip_control;

/// What the person asked for.
#[derive(Debug, Clone)]
pub enum Choice {
    Factor(AuthFactor),
    Invalid,
}

/// The numbered options, in preauth's device order: push, phone, SMS.
#[derive(Debug, Clone)]
pub struct Menu {
    options: Vec<(String, AuthFactor)>,
}

impl Menu {
    pub fn from_devices(devices: &[Device]) -> Self {
        let mut options = Vec::new();
        for d in devices {
            let label = d.label();
            if d.can("push") {
                options.push((
                    format!("Duo Push to {label}"),
                    AuthFactor::Push {
                        device: d.device.clone(),
                    },
                ));
            }
            if d.can("phone") {
                options.push((
                    format!("Phone call to {label}"),
                    AuthFactor::Phone {
                        device: d.device.clone(),
                    },
                ));
            }
            if d.can("sms") {
                let next = d
                    .sms_nextcode
                    .as_deref()
                    .map(|c| strip_control(c, false))
                    .filter(|c| !c.is_empty())
                    .map(|c| format!(" (next code starts with: {c})"))
                    .unwrap_or_default();
                options.push((
                    format!("SMS passcodes to {label}{next}"),
                    AuthFactor::Sms {
                        device: d.device.clone(),
                    },
                ));
            }
        }
        Self { options }
    }

    pub fn len(&self) -> usize {
        self.options.len()
    }

    pub fn is_empty(&self) -> bool {
        self.options.is_empty()
    }

    /// The text shown above the prompt.
    pub fn render(&self, duo_user: &str) -> String {
        let mut s = format!(
            "Duo two-factor login for {}\n\n",
            strip_control(duo_user, false)
        );
        for (i, (label, _)) in self.options.iter().enumerate() {
            s.push_str(&format!(" {}. {label}\n", i + 1));
        }
        s
    }

    pub fn prompt(&self) -> String {
        if self.options.is_empty() {
            "Passcode: ".to_owned()
        } else {
            format!("Passcode or option (1-{}): ", self.options.len())
        }
    }

    /// An option number picks that option; anything else that looks like a
    /// passcode (1 to 64 letters and digits) is sent as one.
    pub fn choose(&self, answer: &str) -> Choice {
        let a = answer.trim();
        if let Ok(n) = a.parse::<usize>() {
            if (1..=self.options.len()).contains(&n) {
                return Choice::Factor(self.options[n - 1].1.clone());
            }
        }
        if (1..=64).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Choice::Factor(AuthFactor::Passcode(a.into()));
        }
        Choice::Invalid
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn devices() -> Vec<Device> {
        serde_json::from_value(serde_json::json!([
            {"device": "D1", "type": "phone", "number": "XXX-XXX-0100",
             "capabilities": ["auto", "push", "sms", "phone"], "sms_nextcode": "2"},
            {"device": "D2", "type": "token", "name": "desk\u{1b}[31m phone",
             "capabilities": ["phone"]},
        ]))
        .unwrap()
    }

    #[test]
    fn menu_lists_each_capability_of_each_device() {
        let m = Menu::from_devices(&devices());
        assert_eq!(m.len(), 4);
        assert_eq!(
            m.render("alice"),
            "Duo two-factor login for alice\n\n 1. Duo Push to XXX-XXX-0100\n \
             2. Phone call to XXX-XXX-0100\n 3. SMS passcodes to XXX-XXX-0100 (next code \
             starts with: 2)\n 4. Phone call to desk[31m phone\n"
        );
        assert_eq!(m.prompt(), "Passcode or option (1-4): ");
    }

    #[test]
    fn answers_pick_options_or_are_passcodes() {
        use secrecy::ExposeSecret;
        let m = Menu::from_devices(&devices());
        assert!(matches!(
            m.choose(" 1 "),
            Choice::Factor(AuthFactor::Push { device }) if device == "D1"
        ));
        assert!(matches!(
            m.choose("4"),
            Choice::Factor(AuthFactor::Phone { device }) if device == "D2"
        ));
        assert!(matches!(
            m.choose("123456"),
            Choice::Factor(AuthFactor::Passcode(p)) if p.expose_secret() == "123456"
        ));
        // 5 is not an option: a one-digit "passcode" goes to Duo, which refuses it.
        assert!(matches!(
            m.choose("5"),
            Choice::Factor(AuthFactor::Passcode(_))
        ));
        for bad in ["", "  ", "1; rm -rf /", "12 34", "é", &"9".repeat(65)] {
            assert!(matches!(m.choose(bad), Choice::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn no_devices_means_passcode_only() {
        let m = Menu::from_devices(&[]);
        assert!(m.is_empty());
        assert_eq!(m.prompt(), "Passcode: ");
        assert!(matches!(
            m.choose("1"),
            Choice::Factor(AuthFactor::Passcode(_))
        ));
    }
}
