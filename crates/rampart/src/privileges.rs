//! Dropping root after binding (so port 25 can be bound by a server that does not run as root).

use std::ffi::CString;
use std::path::Path;

/// The uid and gid of a user name.
fn lookup(user: &str) -> Result<(u32, u32), String> {
    let name =
        CString::new(user).map_err(|_| format!("run_as `{user}` is not a valid user name"))?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of pwd's fields.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(format!(
            "run_as names user `{user}`, who does not exist; create the user or fix run_as"
        ));
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Hands the data directory to `user` and switches to that user and its group for good.
/// When not root, `user` must be who we already are.
pub fn drop_to(user: &str, data_dir: &Path) -> Result<(), String> {
    let (uid, gid) = lookup(user)?;
    if !is_root() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == uid {
            return Ok(());
        }
        return Err(format!(
            "run_as = \"{user}\" needs the server to be started as root; start it as root or remove run_as"
        ));
    }
    chown_tree(data_dir, uid, gid)
        .map_err(|e| format!("cannot hand {} to {user}: {e}", data_dir.display()))?;
    // SAFETY: plain system calls with valid arguments; order matters (groups, gid, then uid).
    unsafe {
        if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
            return Err(format!(
                "cannot switch to user {user}: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::setuid(0) == 0 {
            return Err("switched user but root could be regained; refusing to run".into());
        }
    }
    Ok(())
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}
