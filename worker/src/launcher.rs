//! The `rustyobjectstore` command: runs `python -m rustyobjectstore` with the interpreter installed
//! beside this file (the same environment's scripts dir), else `python3` on PATH.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

fn interpreter() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.to_path_buf()));
    if let Some(dir) = beside {
        for name in ["python3", "python"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("python3")
}

fn main() {
    let python = interpreter();
    let err = Command::new(&python)
        .arg("-m")
        .arg("rustyobjectstore")
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!("rustyobjectstore: cannot run {}: {err}", python.display());
    std::process::exit(127);
}
