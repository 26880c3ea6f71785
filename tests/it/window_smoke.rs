//! The real binary opens its window under Xvfb, draws, stays up and closes
//! cleanly when asked (SIGTERM is handled as a window close request).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_demo_window_starts_draws_and_closes_cleanly_under_xvfb() {
    let display = format!(":{}", 90 + std::process::id() % 100);
    let mut xvfb = Command::new("Xvfb")
        .args([display.as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is installed by scripts/test (Debian package xvfb)");
    std::thread::sleep(Duration::from_millis(800));
    let dir = tempfile::tempdir().unwrap();
    let frame_times = dir.path().join("frames.txt");
    let mut app = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["demo", "--frame-times"])
        .arg(&frame_times)
        .env("DISPLAY", &display)
        .env("XDG_DATA_HOME", dir.path())
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tidepool demo");
    std::thread::sleep(Duration::from_secs(10));
    let alive = app.try_wait().expect("poll").is_none();
    let frames = std::fs::read_to_string(&frame_times).unwrap_or_default().lines().count();
    let _ = Command::new("kill").args(["-TERM", &app.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = app.try_wait().expect("poll") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = app.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    let stderr = app.stderr.take().map(|mut e| {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut e, &mut text);
        text
    });
    assert!(alive, "the demo exited within 10 s: {stderr:?}");
    assert!(frames >= 10, "only {frames} frames were drawn in 10 s: {stderr:?}");
    let status = status.expect("the window did not close within 20 s of SIGTERM");
    assert!(status.success(), "exit status {status} after a close request: {stderr:?}");
}
