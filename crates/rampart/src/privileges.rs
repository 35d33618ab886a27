//! Dropping root after binding (so port 25 can be bound by a server that does not run as root).

use std::ffi::CString;
use std::path::Path;

/// The uid and gid of a user name.
#[allow(unsafe_code)]
fn lookup(user: &str) -> Result<(u32, u32), String> {
    let name =
        CString::new(user).map_err(|_| format!("run_as `{user}` is not a valid user name"))?;
    // SAFETY: passwd is plain C data (integers and pointers); all zeroes is a valid value.
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

#[allow(unsafe_code)]
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A user to switch to, checked before start-up touches anything.
pub struct Target {
    pub name: String,
    uid: u32,
    gid: u32,
}

/// Checks that `user` exists and that switching to it is possible: as root, or already as it.
#[allow(unsafe_code)]
pub fn check(user: &str) -> Result<Target, String> {
    let (uid, gid) = lookup(user)?;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 && euid != uid {
        return Err(format!(
            "run_as = \"{user}\" needs the server to be started as root; start it as root or remove run_as"
        ));
    }
    Ok(Target {
        name: user.to_string(),
        uid,
        gid,
    })
}

/// Hands the data directory to the target user and switches to it and its group for good.
/// When not root, we already are that user (see [`check`]) and nothing changes.
#[allow(unsafe_code)]
pub fn drop_to(target: &Target, data_dir: &Path) -> Result<(), String> {
    let (user, uid, gid) = (&target.name, target.uid, target.gid);
    if !is_root() {
        return Ok(());
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
