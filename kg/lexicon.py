"""Word lists and patterns the offline extractor (kg/extract.py) uses to tell concepts from the words around them."""
import re

# Entity labels never worth a mention unless the schema types them (dates, people: citations in science text)
SKIP_NER = {"CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "TIME", "DATE", "PERSON"}
# Nouns of scholarly discourse, not concepts of a field: a mention headed by one is dropped whatever modifies it
DISCOURSE = {
    "paper", "work", "result", "finding", "case", "way", "order", "fact", "respect", "addition", "contrast",
    "example", "presence", "absence", "basis", "lack", "kind", "sort", "lot", "end", "issue",
    "point", "aspect", "evidence", "detail", "discussion", "possibility", "need", "sign", "attempt", "effort",
    "conclusion", "implication", "consequence", "purpose", "aim", "idea", "view", "sense", "hand", "reason",
    "attention", "interest", "emphasis", "introduction", "article", "section", "author", "future", "past",
    "date", "part", "property", "value", "range", "question", "origin", "application", "meaning", "form", "variety", "majority", "amount", "one", "ones", "others", "manner", "help",
    "advantage", "disadvantage", "importance", "knowledge", "understanding", "insight", "step",
    "use", "account", "context", "role", "nature", "answer", "support", "agreement", "comparison",
    "explanation", "interpretation", "goal", "opportunity", "subject", "focus", "summary",
    "overview", "review", "claim", "argument", "assumption", "choice", "consideration", "expectation", "hint",
    "indication", "motivation", "outcome", "progress", "prospect", "proposal", "suggestion", "situation",
    "difficulty", "challenge", "limitation", "requirement", "regard", "instance",
    "half", "latter", "former", "rest", "remainder", "plenty", "couple",
    "et", "al", "al.", "etc", "i.e.", "e.g.", "thing", "something", "anything", "everything", "none",
}
# Words that name a concept only with a modifier: "the model", "this method", "our data" refer back
BARE = {
    "model", "method", "approach", "technique", "analysis", "data", "observation", "simulation", "theory",
    "framework", "scheme", "procedure", "study", "system", "property", "parameter", "value",
    "quantity", "effect", "process", "component", "region", "problem", "number", "range", "set", "level",
    "factor", "form", "state", "condition", "measurement", "estimate", "limit", "constraint", "type",
    "types", "class", "group", "time", "times", "scale", "order", "object", "source", "function", "result",
    "results", "test", "fit", "code", "calculation", "computation", "prediction", "phase", "stage",
    "regime", "change", "increase", "decrease", "difference", "variation", "measure", "signal", "feature",
    "structure", "behavior", "behaviour", "mechanism", "scenario", "solution", "equation", "relation",
    "relationship", "dependence", "correlation", "contribution", "information", "application", "tool",
    "line", "lines", "event", "events", "candidate", "member", "population", "survey", "map",
    "image", "instrument", "experiment", "detection", "search", "evolution", "distribution",
    "version", "extension", "implementation", "development", "generation", "formation",
    "estimation", "determination", "investigation", "description", "treatment", "derivation", "expression",
    "formula", "formulation", "variable", "element", "body", "material", "medium", "unit", "term", "terms",
    "magnitude", "whole", "sample",
}
# Units and time words are what numbers are measured in, not concepts
UNITS = {
    "cm", "mm", "km", "m", "pc", "kpc", "mpc", "gpc", "au", "ly", "arcsec", "arcmin", "deg", "degree", "degrees",
    "mas", "hz", "khz", "mhz", "ghz", "thz", "ev", "kev", "mev", "gev", "tev", "pev", "erg", "ergs", "j", "w",
    "jy", "mjy", "ujy", "k", "mk", "g", "kg", "yr", "yrs", "gyr", "myr", "kyr", "s", "sec", "ms", "d", "h", "hr",
    "year", "years", "day", "days", "hour", "hours", "minute", "minutes", "second", "seconds", "week", "weeks",
    "month", "months", "decade", "decades", "century", "centuries", "msun", "m_sun", "lsun", "l_sun", "msol",
    "rsun", "sigma", "percent", "%", "dex", "mag", "mags", "foe", "micron", "microns", "um", "nm",
    "angstrom", "times", "order", "orders", "cent", "unit", "units",
}
# Leading words that say how the writer sees a concept, not which concept it is ("significant
# correlation" is a correlation); hyphenated compounds ("high-resolution") are never split
QUALIFIERS = {
    "new", "novel", "recent", "previous", "present", "current", "further", "additional", "other", "various",
    "several", "many", "few", "multiple", "numerous", "different", "similar", "same", "certain", "particular",
    "specific", "major", "important", "significant", "possible", "potential", "likely",
    "plausible", "apparent", "observed", "measured", "detected", "derived", "inferred", "estimated",
    "expected", "predicted", "proposed", "resulting", "corresponding", "existing", "available", "typical",
    "entire", "full", "overall", "good", "simple", "detailed",
    "extensive", "careful", "accurate", "precise", "robust", "reliable", "generic", "appropriate", "relevant",
    "interesting", "surprising", "unexpected", "remarkable", "notable", "clear", "obvious", "independent",
    "last",
    "considerable", "substantial", "sufficient", "slight", "moderate", "approximate", "explicit", "implicit",
    "comprehensive", "thorough", "preliminary", "so-called", "aforementioned", "following", "above", "usual",
    "known", "given", "key", "actual", "excellent", "powerful", "viable",
    "alternative", "remaining", "increasing", "decreasing", "underlying", "associated", "respective",
    "individual", "distinct", "maximal", "realistic",
    "basic", "awkward", "rigorous", "convenient", "nice", "much", "such", "own",
    "only", "considered", "studied",
    "discussed", "presented", "reported", "obtained", "found", "used", "adopted", "required", "needed", "necessary", "valid",
}
# Size, degree and order come off only before a single noun ("high resolution", "first results"); before
# more they usually belong to a term ("large scale structure", "low mass stars", "second order perturbations")
DIMENSIONAL = {"large", "small", "high", "low", "huge", "tiny", "great", "wide", "broad", "first", "second", "third", "final"}
SUBJECTS = {"nsubj", "nsubjpass", "csubj"}
OBJECTS = {"dobj", "attr", "oprd", "dative"}
LINK_PREPS = {"of", "in", "for", "from", "with", "on", "by", "at", "to", "into", "within", "between", "around", "near"}
LEADING_POS = {"DET", "PRON", "PUNCT", "ADP", "CCONJ", "SCONJ", "SYM", "PART", "AUX", "INTJ", "SPACE"}
LEADING_TAGS = {"RB", "RBR", "RBS", "JJR", "JJS", "WRB", "WDT", "WP", "PDT", "LS"}
MATH = set("$\\{}=^<>~|±×√∝≈≃≤≥")
BRACKETS = {"(": ")", "[": "]"}
DESIGNATION_TAIL = re.compile(r"[+\-−][0-9][0-9.]*")
MEASURE = re.compile(r"[0-9][0-9.]*-?([a-z]+)")
ACRONYM = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-+./]*[A-Za-z0-9]")
