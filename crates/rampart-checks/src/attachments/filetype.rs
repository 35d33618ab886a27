//! True file type from magic bytes (AL-1.4): what a file *is*, whatever it is called.

/// What the first bytes say a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// Windows PE/DOS executable (`MZ`): .exe, .dll, .scr, .cpl, .sys …
    Pe,
    /// Linux/Unix ELF executable or shared object.
    Elf,
    /// macOS Mach-O executable, 32/64-bit, either byte order.
    MachO,
    /// `CAFEBABE`: a Mach-O universal (fat) binary or a Java class file — both run code.
    FatMachOOrJavaClass,
    /// Windows shell link (.lnk).
    Lnk,
    /// A script with an interpreter line (`#!`).
    Shebang,
    /// ISO 9660 / UDF optical disc image.
    DiscImage,
    /// Virtual hard disk (VHD, VHDX) or Apple disk image (DMG).
    DiskImage,
    /// OLE2 compound file (D0CF11E0…): legacy Office documents, MSI/MSP installers, …
    Ole2,
    /// Zip container: plain zip, OOXML, ODF, JAR, APPX …
    Zip,
    /// RTF document.
    Rtf,
    /// PDF document.
    Pdf,
    /// An archive or compressed format this gateway cannot look inside.
    OpaqueArchive(&'static str),
    /// Nothing recognised (text, images, …).
    Other,
}

impl FileType {
    /// A short description for reasons.
    pub fn describe(self) -> &'static str {
        match self {
            FileType::Pe => "Windows executable (PE)",
            FileType::Elf => "ELF executable",
            FileType::MachO => "Mach-O executable",
            FileType::FatMachOOrJavaClass => "Mach-O universal binary or Java class",
            FileType::Lnk => "Windows shortcut (LNK)",
            FileType::Shebang => "script with an interpreter line (#!)",
            FileType::DiscImage => "disc image (ISO/UDF)",
            FileType::DiskImage => "disk image (VHD/VHDX/DMG)",
            FileType::Ole2 => "OLE2 compound file",
            FileType::Zip => "zip archive",
            FileType::Rtf => "RTF document",
            FileType::Pdf => "PDF document",
            FileType::OpaqueArchive(what) => what,
            FileType::Other => "other",
        }
    }

    /// Whether the type is itself something that runs (or mounts into something that runs).
    pub fn is_executable(self) -> bool {
        matches!(
            self,
            FileType::Pe
                | FileType::Elf
                | FileType::MachO
                | FileType::FatMachOOrJavaClass
                | FileType::Lnk
                | FileType::Shebang
                | FileType::DiscImage
                | FileType::DiskImage
        )
    }
}

const LNK_HEADER: [u8; 20] = [
    0x4C, 0x00, 0x00, 0x00, // header size
    0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x46, // CLSID 00021401-0000-0000-C000-000000000046
];
const OLE2: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Detects the true type of `data` from its magic bytes.
pub fn detect(data: &[u8]) -> FileType {
    let d = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let at = |off: usize, magic: &[u8]| data.get(off..off + magic.len()) == Some(magic);
    // "MZ" alone also starts ordinary text ("MZone …"): a DOS/PE header carries binary bytes
    // (zeros) in its first 64 bytes, text does not.
    if d.starts_with(b"MZ")
        && d[2..d.len().min(64)]
            .iter()
            .any(|&b| b < 0x09 || (0x0E..0x20).contains(&b))
    {
        return FileType::Pe;
    }
    if d.starts_with(b"\x7FELF") {
        return FileType::Elf;
    }
    // Mach-O: MH_MAGIC, MH_CIGAM, MH_MAGIC_64, MH_CIGAM_64.
    for m in [
        [0xFE, 0xED, 0xFA, 0xCE],
        [0xCE, 0xFA, 0xED, 0xFE],
        [0xFE, 0xED, 0xFA, 0xCF],
        [0xCF, 0xFA, 0xED, 0xFE],
    ] {
        if d.starts_with(&m) {
            return FileType::MachO;
        }
    }
    // Universal binaries: FAT_MAGIC, FAT_CIGAM, FAT_MAGIC_64, FAT_CIGAM_64 (CAFEBABE is also Java).
    for m in [
        [0xCA, 0xFE, 0xBA, 0xBE],
        [0xBE, 0xBA, 0xFE, 0xCA],
        [0xCA, 0xFE, 0xBA, 0xBF],
        [0xBF, 0xBA, 0xFE, 0xCA],
    ] {
        if d.starts_with(&m) {
            return FileType::FatMachOOrJavaClass;
        }
    }
    if d.starts_with(&LNK_HEADER) {
        return FileType::Lnk;
    }
    if d.starts_with(b"#!") && d[2..].trim_ascii_start().starts_with(b"/") {
        return FileType::Shebang;
    }
    if d.starts_with(&OLE2) {
        return FileType::Ole2;
    }
    if d.starts_with(b"PK\x03\x04") || d.starts_with(b"PK\x05\x06") {
        return FileType::Zip;
    }
    // Word opens "{\rt" without the "f": match what the reader accepts, not the spec.
    if d.starts_with(b"{\\rt") {
        return FileType::Rtf;
    }
    // Readers accept %PDF- anywhere in the first KiB.
    if memfind(&d[..d.len().min(1024)], b"%PDF-").is_some() {
        return FileType::Pdf;
    }
    if [0x8001, 0x8801, 0x9001]
        .iter()
        .any(|&off| at(off, b"CD001") || at(off, b"BEA01") || at(off, b"NSR02"))
    {
        return FileType::DiscImage;
    }
    if d.starts_with(b"conectix") || d.starts_with(b"vhdxfile") {
        return FileType::DiskImage;
    }
    if data.len() >= 512 {
        let tail = &data[data.len() - 512..];
        if tail.starts_with(b"conectix") || tail.starts_with(b"koly") {
            return FileType::DiskImage;
        }
    }
    if d.starts_with(b"BZh")
        && d.get(3).is_some_and(|c| (b'1'..=b'9').contains(c))
        && d.get(4..10) == Some(b"1AY&SY".as_slice())
    {
        return FileType::OpaqueArchive("bzip2 data");
    }
    let opaque: [(&[u8], &'static str); 7] = [
        (b"Rar!\x1A\x07", "RAR archive"),
        (b"7z\xBC\xAF\x27\x1C", "7-Zip archive"),
        (b"\x1F\x8B\x08", "gzip data"),
        (b"\xFD7zXZ\x00", "xz data"),
        (b"MSCF", "cabinet archive"),
        (b"\x60\xEA", "ARJ archive"),
        (b"\x28\xB5\x2F\xFD", "zstd data"),
    ];
    for (magic, what) in opaque {
        if d.starts_with(magic) {
            return FileType::OpaqueArchive(what);
        }
    }
    if at(7, b"**ACE**") {
        return FileType::OpaqueArchive("ACE archive");
    }
    FileType::Other
}

/// Position of `needle` in `hay`.
pub fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        assert_eq!(detect(b"MZ\x90\x00rest"), FileType::Pe);
        assert_eq!(detect(b"MZone is a text file\r\n"), FileType::Other);
        assert_eq!(detect(b"#!important note"), FileType::Other);
        assert_eq!(detect(b"\x7FELF\x02\x01"), FileType::Elf);
        assert_eq!(
            detect(&[0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1]),
            FileType::MachO
        );
        assert_eq!(detect(&[0xFE, 0xED, 0xFA, 0xCE]), FileType::MachO);
        assert_eq!(
            detect(&[0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 2]),
            FileType::FatMachOOrJavaClass
        );
        let mut lnk = LNK_HEADER.to_vec();
        lnk.extend_from_slice(&[0; 56]);
        assert_eq!(detect(&lnk), FileType::Lnk);
        assert_eq!(detect(b"#!/bin/sh\nrm -rf ~\n"), FileType::Shebang);
        assert_eq!(
            detect(b"\xEF\xBB\xBF#!/usr/bin/env python\n"),
            FileType::Shebang
        );
        assert_eq!(detect(&OLE2), FileType::Ole2);
        assert_eq!(detect(b"{\\rtf1\\ansi}"), FileType::Rtf);
        assert_eq!(detect(b"junk\n%PDF-1.7\n"), FileType::Pdf);
        assert_eq!(
            detect(b"Rar!\x1A\x07\x01\x00"),
            FileType::OpaqueArchive("RAR archive")
        );
        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(detect(&iso), FileType::DiscImage);
        let mut vhd = vec![0u8; 2048];
        vhd[1536..1544].copy_from_slice(b"conectix");
        assert_eq!(detect(&vhd), FileType::DiskImage);
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n"), FileType::Other);
        assert_eq!(detect(b""), FileType::Other);
    }
}
