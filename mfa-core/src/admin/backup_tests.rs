use super::*;

fn setup() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/a"), b"old a\n").unwrap();
    std::fs::set_permissions(
        dir.path().join("etc/a"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let root = Root::new(dir.path());
    (dir, root)
}

fn changes() -> Vec<Change> {
    vec![
        Change {
            path: "/etc/a".into(),
            before: Some(b"old a\n".to_vec()),
            after: b"new a\n".to_vec(),
        },
        Change {
            path: "/etc/new/b".into(),
            before: None,
            after: b"b\n".to_vec(),
        },
    ]
}

#[test]
fn apply_then_restore_is_byte_identical_and_removes_new_files() {
    let (dir, root) = setup();
    let name = create(&root, "install pam", &changes()).unwrap();
    apply(&root, &name, &changes()).unwrap();
    assert_eq!(std::fs::read(dir.path().join("etc/a")).unwrap(), b"new a\n");
    let mode = std::fs::metadata(dir.path().join("etc/a")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o640, "the replaced file keeps its mode");
    assert_eq!(
        newest_unrestored(&root).unwrap().as_deref(),
        Some(name.as_str())
    );

    let m = restore(&root, &name, false).unwrap();
    assert!(m.restored.is_some());
    assert_eq!(std::fs::read(dir.path().join("etc/a")).unwrap(), b"old a\n");
    assert!(!dir.path().join("etc/new/b").exists());
    assert_eq!(newest_unrestored(&root).unwrap(), None);
    assert!(restore(&root, &name, false).is_err(), "not twice");
}

#[test]
fn a_file_edited_since_install_is_not_overwritten_unless_forced() {
    let (dir, root) = setup();
    let name = create(&root, "install pam", &changes()).unwrap();
    apply(&root, &name, &changes()).unwrap();
    std::fs::write(dir.path().join("etc/a"), b"edited by hand\n").unwrap();
    let e = restore(&root, &name, false).unwrap_err();
    assert!(e.to_string().contains("/etc/a"), "{e}");
    assert_eq!(
        std::fs::read(dir.path().join("etc/a")).unwrap(),
        b"edited by hand\n"
    );
    restore(&root, &name, true).unwrap();
    assert_eq!(std::fs::read(dir.path().join("etc/a")).unwrap(), b"old a\n");
}

#[test]
fn backups_are_private_and_names_sort_by_time() {
    let (dir, root) = setup();
    let a = create(&root, "one", &changes()).unwrap();
    let b = create(&root, "two", &changes()).unwrap();
    assert_ne!(a, b);
    assert_eq!(
        newest_unrestored(&root).unwrap().as_deref(),
        Some(b.as_str())
    );
    let m = std::fs::metadata(dir.path().join("var/lib/mfa/backup")).unwrap();
    assert_eq!(m.mode() & 0o777, 0o700);
    let f = std::fs::metadata(
        dir.path()
            .join("var/lib/mfa/backup")
            .join(&a)
            .join("files/0"),
    )
    .unwrap();
    assert_eq!(f.mode() & 0o777, 0o600);
    assert!(load(&root, "../x").is_err());
}

#[test]
fn utc_stamps() {
    assert_eq!(utc_stamp(0), "19700101T000000Z");
    assert_eq!(utc_stamp(951_827_696), "20000229T123456Z");
    assert_eq!(utc_stamp(1_767_225_599), "20251231T235959Z");
}
