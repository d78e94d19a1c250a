//! `sophia`: scores the sentiment of a text with a small built-in lexicon.
//!
//! Lexicon based on purpose: deterministic, instant, and small enough to read. Words are
//! matched case-insensitively; a negation (`not`, `never`, `no`, `...n't`) flips the next
//! sentiment word within a few words of the same clause ("not good" counts as negative).

use harmonia_sdk::prelude::*;

/// The plugin.
pub struct Sophia;

impl Plugin for Sophia {
    fn info() -> PluginInfo {
        PluginInfo::new("sophia", env!("CARGO_PKG_VERSION"), "Scores the sentiment of text with a small lexicon")
    }

    fn actions() -> Actions {
        Actions::new()
            .action(
                "analyze_sentiment",
                "Scores text as positive, negative or neutral (score in [-1, 1])",
                |_: &Context, input: Input| Ok(analyze(&input.text)),
            )
            .input_schema(json!({
                "type": "object",
                "required": ["text"],
                "properties": { "text": { "type": "string" } }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "sentiment": { "enum": ["positive", "negative", "neutral"] },
                    "score": { "type": "number", "minimum": -1, "maximum": 1 },
                    "positive": { "type": "integer" },
                    "negative": { "type": "integer" },
                    "words": { "type": "integer" }
                }
            }))
    }
}

harmonia_sdk::export!(Sophia);

/// The input of `analyze_sentiment`.
#[derive(Debug, Deserialize)]
pub struct Input {
    /// The text to score.
    pub text: String,
}

/// The output of `analyze_sentiment`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// `positive`, `negative` or `neutral`.
    pub sentiment: &'static str,
    /// `(positive - negative) / (positive + negative)`, 0 without sentiment words.
    pub score: f64,
    /// Sentiment words that counted as positive (after negation).
    pub positive: u32,
    /// Sentiment words that counted as negative (after negation).
    pub negative: u32,
    /// All words in the text.
    pub words: u32,
}

const POSITIVE: &[&str] = &[
    "love",
    "loved",
    "loves",
    "lovely",
    "wonderful",
    "great",
    "excellent",
    "good",
    "happy",
    "amazing",
    "awesome",
    "fantastic",
    "brilliant",
    "best",
    "better",
    "beautiful",
    "nice",
    "enjoy",
    "enjoyed",
    "perfect",
    "pleased",
    "glad",
    "delighted",
    "superb",
    "outstanding",
    "positive",
    "fun",
    "helpful",
    "recommend",
    "impressive",
    "favorite",
    "success",
    "successful",
    "excited",
    "exciting",
    "thanks",
    "thank",
    "grateful",
    "easy",
    "reliable",
    "satisfied",
    "pleasant",
    "joy",
    "win",
    "wins",
];

const NEGATIVE: &[&str] = &[
    "hate",
    "hated",
    "hates",
    "terrible",
    "awful",
    "bad",
    "sad",
    "poor",
    "horrible",
    "worst",
    "worse",
    "angry",
    "annoying",
    "annoyed",
    "disappointing",
    "disappointed",
    "boring",
    "broken",
    "fail",
    "failed",
    "failure",
    "problem",
    "problems",
    "ugly",
    "useless",
    "wrong",
    "unhappy",
    "upset",
    "painful",
    "dislike",
    "disgusting",
    "dreadful",
    "mediocre",
    "negative",
    "buggy",
    "crash",
    "crashed",
    "frustrating",
    "frustrated",
    "waste",
    "sucks",
    "slow",
    "difficult",
    "lose",
    "loses",
];

const NEGATORS: &[&str] = &["not", "no", "never", "none", "nothing", "neither", "nor", "without", "cannot", "hardly"];

/// How many words after a negation it still flips a sentiment word ("not very good").
const NEGATION_REACH: u8 = 3;

/// Scores `text`. Pure: needs no host, so it is unit-tested on any target.
pub fn analyze(text: &str) -> Analysis {
    let (mut positive, mut negative, mut words) = (0u32, 0u32, 0u32);
    // Words left in which a negation still applies; cleared at clause punctuation.
    let mut negated: u8 = 0;
    for token in tokens(text) {
        let word = match token {
            Token::ClauseEnd => {
                negated = 0;
                continue;
            }
            Token::Word(word) => word,
        };
        words += 1;
        let polarity: i8 = if POSITIVE.contains(&word.as_str()) {
            1
        } else if NEGATIVE.contains(&word.as_str()) {
            -1
        } else {
            0
        };
        if polarity != 0 {
            let flipped = if negated > 0 { -polarity } else { polarity };
            if flipped > 0 {
                positive += 1;
            } else {
                negative += 1;
            }
            negated = 0;
        } else if is_negator(&word) {
            negated = NEGATION_REACH;
        } else {
            negated = negated.saturating_sub(1);
        }
    }
    let total = positive + negative;
    let score = if total == 0 { 0.0 } else { (f64::from(positive) - f64::from(negative)) / f64::from(total) };
    let sentiment = if total == 0 || score.abs() < 0.1 {
        "neutral"
    } else if score > 0.0 {
        "positive"
    } else {
        "negative"
    };
    Analysis { sentiment, score, positive, negative, words }
}

fn is_negator(word: &str) -> bool {
    NEGATORS.contains(&word)
        || word.ends_with("n't")
        || matches!(word, "dont" | "doesnt" | "didnt" | "isnt" | "wasnt" | "cant" | "wont")
}

enum Token {
    Word(String),
    ClauseEnd,
}

/// Lower-cased words (letters, digits and inner apostrophes) and clause boundaries.
fn tokens(text: &str) -> impl Iterator<Item = Token> + '_ {
    let mut chars = text.chars().peekable();
    std::iter::from_fn(move || loop {
        let c = chars.next()?;
        if matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '\n') {
            return Some(Token::ClauseEnd);
        }
        if !c.is_alphanumeric() {
            continue;
        }
        let mut word: String = c.to_lowercase().collect();
        while let Some(&next) = chars.peek() {
            if next.is_alphanumeric() {
                word.extend(next.to_lowercase());
            } else if next == '\'' || next == '\u{2019}' {
                word.push('\'');
            } else {
                break;
            }
            chars.next();
        }
        let word = word.trim_end_matches('\'').to_owned();
        return Some(Token::Word(word));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_examples() {
        let a = analyze("I love this, it is wonderful");
        assert_eq!((a.sentiment, a.positive, a.negative, a.words), ("positive", 2, 0, 6));
        assert_eq!(a.score, 1.0);
        let a = analyze("This is terrible and I hate it");
        assert_eq!((a.sentiment, a.positive, a.negative), ("negative", 0, 2));
        assert_eq!(a.score, -1.0);
        let a = analyze("The box is on the table");
        assert_eq!((a.sentiment, a.score, a.words), ("neutral", 0.0, 6));
    }

    #[test]
    fn case_insensitive() {
        assert_eq!(analyze("GREAT work. EXCELLENT!").positive, 2);
    }

    #[test]
    fn negation_flips_the_next_sentiment_word() {
        let a = analyze("This is not good");
        assert_eq!((a.sentiment, a.positive, a.negative), ("negative", 0, 1));
        assert_eq!(analyze("I don't hate it").sentiment, "positive");
        assert_eq!(analyze("I don’t hate it").sentiment, "positive");
        assert_eq!(analyze("never bad, always great").positive, 2);
        // The negation is spent on the first sentiment word.
        let a = analyze("not bad and good");
        assert_eq!((a.positive, a.negative), (2, 0));
        // It does not reach over a clause boundary or too far.
        assert_eq!(analyze("No. Great").positive, 1);
        assert_eq!(analyze("not one two three four good").positive, 1);
    }

    #[test]
    fn mixed_text_scores_in_between() {
        let a = analyze("good, good, bad");
        assert_eq!(a.sentiment, "positive");
        assert!((a.score - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(analyze("good and bad").sentiment, "neutral");
    }

    #[test]
    fn empty_text_is_neutral() {
        let a = analyze("");
        assert_eq!((a.sentiment, a.score, a.words), ("neutral", 0.0, 0));
    }

    #[test]
    fn action_reads_json_and_rejects_bad_input() {
        let out = harmonia_sdk::testing::call::<Sophia>("analyze_sentiment", json!({"text": "great"})).unwrap();
        assert_eq!(out, json!({"sentiment": "positive", "score": 1.0, "positive": 1, "negative": 0, "words": 1}));
        let err = harmonia_sdk::testing::call::<Sophia>("analyze_sentiment", json!({"txt": "x"})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("analyze_sentiment"));
    }
}
