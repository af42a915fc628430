// DLP detectors: each counts the valid occurrences of one kind of protected health
// information in a text. Structured identifiers are validated, not just pattern-matched:
// SSN area/group/serial ranges, Luhn for cards and NPIs, the MBI character rules. Context
// words are required where a bare pattern would match ordinary numbers (unseparated SSNs,
// NPIs, undotted ICD-10 codes, dates of birth). URLs and e-mail addresses are blanked first,
// so a code inside a link is not a finding. Every regular expression is linear (no nested
// quantifiers), so a hostile text cannot make a scan explode.
// Inputs: text. Outputs: counts. Never the matched text.

export type DetectorName = 'ssn' | 'mbi' | 'mrn' | 'dob' | 'icd10' | 'npi' | 'card' | 'patient_contact' | 'keyword';

export const DETECTORS: readonly DetectorName[] = ['ssn', 'mbi', 'mrn', 'dob', 'icd10', 'npi', 'card', 'patient_contact', 'keyword'];

export interface DetectorConfig {
  /** Regular expressions (source strings, case-insensitive) that recognise the practice's MRNs. */
  mrnPatterns: string[];
  /** Dictionary terms (diagnoses, drugs); whole words, case-insensitive. */
  keywords: string[];
}

/** Within this many characters a context word counts as "near". */
const NEAR = 40;

export function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"']+/gi;
const EMAIL_LOCAL = /[^\s<>"'@]{1,64}$/;
const EMAIL_DOMAIN = /^[^\s<>"'@]{1,255}\.[A-Za-z]{2,}/;

/** Blanks URLs and e-mail addresses (same length, so positions stay meaningful). */
export function blankLinks(text: string): string {
  let out = text.includes('://') || /www\./i.test(text) ? text.replace(URL_RE, (m) => ' '.repeat(m.length)) : text;
  // e-mail addresses: look around each "@" only (a pattern tried at every position costs 64x)
  let at = out.indexOf('@');
  if (at === -1) return out;
  const pieces: string[] = [];
  let from = 0;
  while (at !== -1) {
    const local = EMAIL_LOCAL.exec(out.slice(Math.max(from, at - 64), at));
    const domain = EMAIL_DOMAIN.exec(out.slice(at + 1, at + 257));
    if (local && domain) {
      const start = at - local[0].length;
      const end = at + 1 + domain[0].length;
      pieces.push(out.slice(from, start), ' '.repeat(end - start));
      from = end;
      at = out.indexOf('@', end);
    } else {
      at = out.indexOf('@', at + 1);
    }
  }
  pieces.push(out.slice(from));
  out = pieces.join('');
  return out;
}

function hasContext(text: string, index: number, length: number, words: RegExp): boolean {
  const before = text.slice(Math.max(0, index - NEAR), index);
  const after = text.slice(index + length, index + length + 10);
  return words.test(before) || words.test(after);
}

function count(text: string, re: RegExp, valid: (m: RegExpExecArray) => boolean): number {
  let n = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) if (valid(m)) n++;
  return n;
}

const SSN_CONTEXT = /\b(ssn|ss#|social security|soc\.? sec)/i;
const SSN_INVALID = new Set(['078051120', '219099999', '123456789']); // advertising and sample numbers

export function ssnValid(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  if (a === 0 || a === 666 || a >= 900) return false;
  if (group === '00' || serial === '0000') return false;
  return !SSN_INVALID.has(area + group + serial);
}

function ssn(text: string): number {
  return count(text, /(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])/g, (m) => {
    if (!ssnValid(m[1]!, m[3]!, m[4]!)) return false;
    // 9 digits in a row are often order or account numbers: only with "SSN" nearby
    return m[2] !== '' || hasContext(text, m.index, m[0].length, SSN_CONTEXT);
  });
}

// MBI: C A AN N A AN N A A N N; letters exclude S, L, O, I, B, Z; optional dashes after 4 and 7
const MBI_L = '[AC-HJKMNP-RT-Y]';
const MBI_AN = '[AC-HJKMNP-RT-Y0-9]';
const MBI_RE = new RegExp(`(?<![A-Za-z0-9])[1-9]${MBI_L}${MBI_AN}[0-9]-?${MBI_L}${MBI_AN}[0-9]-?${MBI_L}${MBI_L}[0-9]{2}(?![A-Za-z0-9])`, 'g');

function mbi(text: string): number {
  return count(text.toUpperCase(), MBI_RE, () => true);
}

function mrn(text: string, patterns: RegExp[]): number {
  return patterns.reduce((n, re) => n + count(text, re, () => true), 0);
}

const MONTHS = '(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\\.?';
const DATE = `(?:\\d{1,2}[/.-]\\d{1,2}[/.-](?:19|20)?\\d{2}|(?:19|20)\\d{2}-\\d{2}-\\d{2}|${MONTHS} \\d{1,2},? (?:19|20)\\d{2}|\\d{1,2} ${MONTHS} (?:19|20)\\d{2})`;
const DOB_RE = new RegExp(`\\b(?:dob|d\\.o\\.b\\.?|date of birth|birth ?date|born(?: on)?)\\b[:\\s-]{0,5}${DATE}`, 'gi');

function dob(text: string): number {
  return count(text, DOB_RE, () => true);
}

const ICD_CONTEXT = /\b(icd|dx|diagnos[ie]s|diagnosed|code)\b/i;

function icd10(text: string): number {
  return count(text, /(?<![A-Za-z0-9.])([A-TV-Z][0-9][0-9AB])(\.[0-9A-TV-Z]{1,4})?(?![A-Za-z0-9])/g, (m) => {
    if (m[2]) return true; // a dotted code: "E11.9"
    return hasContext(text, m.index, m[0].length, ICD_CONTEXT); // "E11" only with "ICD"/"dx" nearby
  });
}

const NPI_CONTEXT = /\bnpi\b/i;

export function npiValid(npi: string): boolean {
  return /^[12]\d{9}$/.test(npi) && luhn(`80840${npi}`);
}

function npi(text: string): number {
  return count(text, /(?<!\d)([12]\d{9})(?!\d)/g, (m) => npiValid(m[1]!) && hasContext(text, m.index, m[0].length, NPI_CONTEXT));
}

export function cardValid(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19 || !luhn(digits)) return false;
  return /^(4|5[1-5]|2(2[2-9][1-9]|[3-6]\d\d|7[01]\d|720)|3[47]|6011|65|64[4-9]|35|36|38)/.test(digits);
}

function card(text: string): number {
  return count(text, /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g, (m) => cardValid(m[0].replace(/[ -]/g, '')));
}

const NAME_LABEL = /\b(?:[Pp]atient(?: [Nn]ame)?|[Nn]ame|P[Tt])\s*:\s*[A-Z][a-z'-]+(?: [A-Z][a-z'-]+){1,2}/g;
const PHONE = /(?<!\d)(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?!\d)/;
const STREET = /\b\d{1,6} [A-Z][a-z]+(?: [A-Z][a-z]+)* (?:St|Street|Ave|Avenue|Rd|Road|Blvd|Lane|Ln|Dr|Drive|Ct|Court|Way)\b/;

function patientContact(text: string): number {
  return count(text, NAME_LABEL, (m) => {
    const near = text.slice(m.index, m.index + m[0].length + 200);
    return PHONE.test(near) || STREET.test(near);
  });
}

function keywordRegex(terms: string[]): RegExp | null {
  const clean = terms.map((t) => t.trim()).filter((t) => t.length >= 3 && t.length <= 80);
  if (clean.length === 0) return null;
  const escaped = clean.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+'));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
}

/** Compiled detectors for one configuration. */
export class DetectorSet {
  private readonly mrnPatterns: RegExp[];
  private readonly keywords: RegExp | null;

  constructor(config: DetectorConfig) {
    this.mrnPatterns = config.mrnPatterns.map((p) => new RegExp(p, 'gi'));
    this.keywords = keywordRegex(config.keywords);
  }

  /** Counts per detector for one text (zero counts omitted). */
  scan(raw: string): Partial<Record<DetectorName, number>> {
    const text = blankLinks(raw);
    const out: Partial<Record<DetectorName, number>> = {};
    const add = (name: DetectorName, n: number) => {
      if (n > 0) out[name] = n;
    };
    add('ssn', ssn(text));
    add('mbi', mbi(text));
    add('mrn', mrn(text, this.mrnPatterns));
    add('dob', dob(text));
    add('icd10', icd10(text));
    add('npi', npi(text));
    add('card', card(text));
    add('patient_contact', patientContact(text));
    if (this.keywords) add('keyword', count(text, this.keywords, () => true));
    return out;
  }
}

export const DEFAULT_MRN_PATTERNS = ['\\b(?:MRN|medical record(?: number| no\\.?)?)\\s*[:#]?\\s*[A-Z]{0,3}\\d{5,10}\\b'];

/** A starting dictionary; administrators edit it with `sealpost dlp keywords`. */
export const DEFAULT_KEYWORDS = [
  // diagnoses
  'diabetes', 'hypertension', 'HIV', 'AIDS', 'hepatitis', 'cancer', 'carcinoma', 'leukemia', 'lymphoma', 'melanoma',
  'depression', 'schizophrenia', 'bipolar disorder', 'anxiety disorder', 'dementia', "Alzheimer's", 'epilepsy',
  'asthma', 'COPD', 'tuberculosis', 'chlamydia', 'gonorrhea', 'syphilis', 'herpes', 'pregnancy test', 'miscarriage',
  'substance use disorder', 'opioid use disorder', 'alcohol use disorder', 'eating disorder', 'anorexia', 'bulimia',
  // drugs
  'metformin', 'insulin', 'lisinopril', 'atorvastatin', 'sertraline', 'fluoxetine', 'escitalopram', 'lithium',
  'quetiapine', 'olanzapine', 'buprenorphine', 'methadone', 'naloxone', 'oxycodone', 'hydrocodone', 'Truvada',
  'Biktarvy', 'PrEP', 'warfarin', 'levothyroxine', 'chemotherapy', 'methotrexate', 'adalimumab',
];
