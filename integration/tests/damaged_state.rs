//! A damaged state file (a disk or file-system fault) stops its account with a message
//! that says what to do, and never ends twinbox with a panic (issue 12: fuzzing found
//! that redb panics on some damaged files when it opens or reads them).

use twinbox_integration::*;

#[test]
fn a_damaged_state_file_fails_its_account_with_a_way_out() {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    let inbox = create_folder(&sandbox.local().join("INBOX"));
    for n in 0..5 {
        deliver_new(&inbox, &message(&format!("state-{n}")));
    }
    sandbox.sync_ok(&[]);
    let state = sandbox.metadata().join("Account-Test.redb");
    let good = std::fs::read(&state).unwrap();

    // Several kinds of damage: each a failed account or a sync, never a crash.
    let mut guided = 0;
    for (n, (at, length, value)) in [
        (0usize, 64usize, 0u8),
        (512, 512, 0xff),
        (4096, 4096, 0),
        (good.len() / 2, 64, 0xa5),
        (good.len().saturating_sub(4096), 4096, 0),
        (4096, good.len(), 0x41),
    ]
    .into_iter()
    .enumerate()
    {
        let mut damaged = good.clone();
        let end = (at + length).min(damaged.len());
        damaged[at.min(end)..end].fill(value);
        std::fs::write(&state, &damaged).unwrap();
        let outcome = sandbox.run(&["sync"]);
        assert!(
            matches!(outcome.code, Some(0) | Some(1)),
            "damage {n}: twinbox crashed\n{outcome}"
        );
        if outcome.stderr.contains("internal error") {
            // redb panicked: the account's line must still say what to do.
            assert!(
                outcome.stdout.contains("probably damaged")
                    && outcome.stdout.contains("move it aside"),
                "damage {n}\n{outcome}"
            );
            guided += 1;
        } else if outcome.code == Some(1) {
            assert!(
                outcome.stdout.contains("sync state"),
                "damage {n}\n{outcome}"
            );
        }
    }
    eprintln!("{guided} of the damages made redb panic");
    // Moving the file aside, as the message says, starts over without duplicates.
    std::fs::remove_file(&state).unwrap();
    sandbox.sync_ok(&[]);
    assert_eq!(messages(&sandbox.remote().join("INBOX")).len(), 5);
    assert_eq!(messages(&inbox).len(), 5);
}
