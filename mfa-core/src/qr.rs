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

/// The module matrix (row-major, `true` = dark), without quiet zone.
pub fn modules(data: &str) -> Result<(usize, Vec<bool>), QrError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|e| QrError(e.to_string()))?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok((width, dark))
}

/// Render with ANSI background colours, two spaces per module: for terminals
/// whose font draws half blocks badly.
pub fn to_ansi(data: &str) -> Result<String, QrError> {
    let (width, dark) = modules(data)?;
    let quiet = 2;
    let light = "\x1b[47m  \x1b[0m";
    let black = "\x1b[40m  \x1b[0m";
    let mut out = String::new();
    let full = width + 2 * quiet;
    for y in 0..full {
        for x in 0..full {
            let inside = (quiet..quiet + width).contains(&x) && (quiet..quiet + width).contains(&y);
            let is_dark = inside
                && dark
                    .get((y - quiet) * width + (x - quiet))
                    .copied()
                    .unwrap_or(false);
            out.push_str(if is_dark { black } else { light });
        }
        out.push('\n');
    }
    Ok(out)
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
