//! The obfuscation normaliser for content rules (AL-1.2): `V1AGRA`, `v.i.a.g.r.a`, `l0ttery`
//! and `F R E E` read as the words they imitate, so one rule catches every spelling.
//!
//! Applied on top of the pipeline's normalisation (invisible characters removed, NFKC), only
//! for rules marked `deobf`: it is lossy on purpose (`1st` stays, but `w1n` becomes `win`).

/// Text lower-cased, with look-alike digits and symbols inside words read as letters, and
/// single letters spaced out by separators joined again.
pub fn deobfuscate(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let wordy = is_word_char(&chars, i);
        while i < chars.len() && is_word_char(&chars, i) == wordy {
            i += 1;
        }
        let piece: String = chars[start..i].iter().collect();
        tokens.push(if wordy {
            Token::Word(read_word(&piece))
        } else {
            Token::Gap(piece)
        });
    }
    join_spaced_letters(tokens)
}

enum Token {
    Word(String),
    Gap(String),
}

/// A word character: a letter or digit, or a symbol standing for a letter between two of them
/// (`v@gra`, `ca$h`, `v|agra`), so that `win!` keeps its `!` as punctuation.
fn is_word_char(chars: &[char], i: usize) -> bool {
    let c = chars[i];
    if c.is_alphanumeric() {
        return true;
    }
    let inner = matches!(c, '@' | '$' | '|' | '!');
    inner
        && i > 0
        && chars[i - 1].is_alphanumeric()
        && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())
}

/// One word lower-cased; when it has a letter, its digits and symbols are read as letters
/// (`2024` stays a number, `l0ttery` becomes `lottery`).
fn read_word(word: &str) -> String {
    let has_letter = word.chars().any(char::is_alphabetic);
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if has_letter { leet(c) } else { c })
        .collect()
}

fn leet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        c => c,
    }
}

/// At least this many single letters in a row, each one or two separator characters apart,
/// are one spaced-out word.
const MIN_SPACED: usize = 3;

fn join_spaced_letters(tokens: Vec<Token>) -> String {
    let single = |t: &Token| matches!(t, Token::Word(w) if w.chars().count() == 1);
    let short_gap =
        |t: &Token| matches!(t, Token::Gap(g) if g.chars().count() <= 2 && !g.contains('\n'));
    let mut out = String::new();
    let mut i = 0;
    while i < tokens.len() {
        // A run: letter (gap letter)* with every gap short.
        let mut end = i;
        if single(&tokens[i]) {
            while end + 2 < tokens.len() && short_gap(&tokens[end + 1]) && single(&tokens[end + 2])
            {
                end += 2;
            }
        }
        let letters = (end - i) / 2 + 1;
        if single(&tokens[i]) && letters >= MIN_SPACED {
            for t in &tokens[i..=end] {
                if let Token::Word(w) = t {
                    out.push_str(w);
                }
            }
            i = end + 1;
        } else {
            match &tokens[i] {
                Token::Word(w) | Token::Gap(w) => out.push_str(w),
            }
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::deobfuscate;

    #[test]
    fn al_1_2_obfuscated_words_read_plainly() {
        assert_eq!(deobfuscate("CHEAP V1AGRA"), "cheap viagra");
        assert_eq!(deobfuscate("buy v.i.a.g.r.a now"), "buy viagra now");
        assert_eq!(deobfuscate("V-I-A-G-R-A"), "viagra");
        assert_eq!(deobfuscate("L0TTERY W1NNER"), "lottery winner");
        assert_eq!(deobfuscate("v@gra and ca$h!"), "vagra and cash!");
        assert_eq!(deobfuscate("F R E E money"), "free money");
    }

    #[test]
    fn al_1_2_plain_text_survives_deobfuscation() {
        // Numbers stay numbers, ordinary initials and punctuation are left alone.
        assert_eq!(
            deobfuscate("Meeting on 2024-05-01 at 10:30, room 3."),
            "meeting on 2024-05-01 at 10:30, room 3."
        );
        assert_eq!(deobfuscate("J. Smith, A. B."), "j. smith, a. b.");
        assert_eq!(deobfuscate("Win!"), "win!");
    }
}
