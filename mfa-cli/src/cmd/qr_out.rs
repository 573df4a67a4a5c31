//! `--qr utf8|ansi|none|png:FILE`

use std::path::{Path, PathBuf};
use std::str::FromStr;

use mfa_core::fsutil::{self, ReplaceOptions};

use super::CliError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrFormat {
    Utf8,
    Ansi,
    None,
    Png(PathBuf),
}

impl FromStr for QrFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "utf8" => Ok(QrFormat::Utf8),
            "ansi" => Ok(QrFormat::Ansi),
            "none" => Ok(QrFormat::None),
            _ => match s.strip_prefix("png:") {
                Some(p) if !p.is_empty() => Ok(QrFormat::Png(PathBuf::from(p))),
                _ => Err("expected utf8, ansi, none or png:FILE".into()),
            },
        }
    }
}

/// Render `data` as asked. Terminal renderings are returned for the caller
/// to print (on stderr, so stdout stays machine-readable); PNG is written.
pub fn render(data: &str, format: &QrFormat) -> Result<Option<String>, CliError> {
    let fail = |e: mfa_core::qr::QrError| CliError::Failed(e.to_string());
    match format {
        QrFormat::None => Ok(None),
        QrFormat::Utf8 => mfa_core::qr::to_terminal(data).map(Some).map_err(fail),
        QrFormat::Ansi => mfa_core::qr::to_ansi(data).map(Some).map_err(fail),
        QrFormat::Png(path) => {
            write_png(data, path)?;
            Ok(None)
        }
    }
}

fn write_png(data: &str, path: &Path) -> Result<(), CliError> {
    let (width, dark) = mfa_core::qr::modules(data).map_err(|e| CliError::Failed(e.to_string()))?;
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for y in 0..width {
        for x in 0..width {
            if dark[y * width + x] {
                for dy in 0..SCALE {
                    let row = ((y + QUIET) * SCALE + dy) * side;
                    let col = (x + QUIET) * SCALE;
                    pixels[row + col..row + col + SCALE].fill(0);
                }
            }
        }
    }
    let fail = |e: String| CliError::Failed(format!("{}: {e}", path.display()));
    let mut png_bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut png_bytes, side as u32, side as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| fail(e.to_string()))?;
    w.write_image_data(&pixels)
        .map_err(|e| fail(e.to_string()))?;
    w.finish().map_err(|e| fail(e.to_string()))?;
    // The image is the TOTP secret: readable by its owner only, and created,
    // never reused. The image is written to a temp file made O_EXCL with
    // mode 0600, then given its name by a rename that refuses to replace
    // anything (renameat2 RENAME_NOREPLACE, or link(2)): an existing file or
    // a symlink at the path is refused, never followed or overwritten, as
    // O_CREAT|O_EXCL|O_NOFOLLOW would, and no reader sees half an image.
    let opts = ReplaceOptions {
        mode: 0o600,
        owner: None,
        clobber: false,
        sync_dir: true,
    };
    fsutil::replace(path, &png_bytes, &opts).map_err(|e| match &e {
        fsutil::FsError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            exists_error(path)
        }
        _ => CliError::Failed(e.to_string()),
    })
}

fn exists_error(path: &Path) -> CliError {
    CliError::Failed(format!(
        "{}: already exists (or is a symlink); the QR image is only ever written to a new file",
        path.display()
    ))
}

/// Refuse early, before anything else is written, when `format` names an
/// image file that already exists: the check that counts is the exclusive
/// creation in [`render`]; this one spares a state file made for nothing.
pub fn check_target(format: &QrFormat) -> Result<(), CliError> {
    match format {
        QrFormat::Png(path) if path.symlink_metadata().is_ok() => Err(exists_error(path)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats() {
        assert_eq!("utf8".parse::<QrFormat>(), Ok(QrFormat::Utf8));
        assert_eq!(
            "png:/tmp/x.png".parse::<QrFormat>(),
            Ok(QrFormat::Png("/tmp/x.png".into()))
        );
        assert!("png:".parse::<QrFormat>().is_err());
        assert!("svg".parse::<QrFormat>().is_err());
    }

    #[test]
    fn writes_a_png() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("qr.png");
        render(
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP",
            &QrFormat::Png(p.clone()),
        )
        .unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = png::Decoder::new(std::io::Cursor::new(&bytes))
            .read_info()
            .unwrap();
        assert_eq!(decoded.info().color_type, png::ColorType::Grayscale);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
    }

    #[test]
    fn a_png_is_never_written_through_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let dangling = d.path().join("nowhere");
        for target in [&victim, &dangling] {
            let p = d.path().join("qr.png");
            std::os::unix::fs::symlink(target, &p).unwrap();
            let fmt = QrFormat::Png(p.clone());
            assert!(check_target(&fmt).is_err());
            let e = render("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", &fmt).unwrap_err();
            assert!(e.to_string().contains("already exists"), "{e}");
            assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
            assert!(!dangling.exists(), "nothing created at the link's target");
            assert!(std::fs::symlink_metadata(&p)
                .unwrap()
                .file_type()
                .is_symlink());
            std::fs::remove_file(&p).unwrap();
        }
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn an_existing_png_is_refused_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("qr.png");
        std::fs::write(&p, b"someone else's").unwrap();
        let fmt = QrFormat::Png(p.clone());
        assert!(check_target(&fmt).is_err());
        assert!(render("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", &fmt).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"someone else's");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
