//! QR codes for terminals: two modules per character cell with UTF-8 half
//! blocks, quiet zone included, so a phone camera can read it off a terminal.

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};

#[derive(Debug, thiserror::Error)]
#[error("cannot encode this text as a QR code: {0}")]
pub struct QrError(String);

/// Render `data` with UTF-8 half blocks. Dark modules are drawn as blank
/// cells on a light background, which is how phones read terminal QR codes.
pub fn to_terminal(data: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|e| QrError(e.to_string()))?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_square_block_art() {
        let art = to_terminal("otpauth://totp/x?secret=ABC").unwrap();
        let lines: Vec<&str> = art.lines().collect();
        assert!(lines.len() > 10);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(art.contains('█') || art.contains('▀') || art.contains('▄'));
        // Two rows per line: roughly twice as wide as tall.
        assert!(width > lines.len());
    }
}
