"""USPS codes for the states, DC and territories, and the names a form respondent may type."""

import re
import unicodedata

USPS_STATES: dict[str, str] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "AS": "American Samoa",
    "GU": "Guam",
    "MP": "Northern Mariana Islands",
    "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands",
}

# Other ways people write a state: postal-era and AP-style abbreviations (written here with their dots, which
# `state_key` drops anyway), and common variants. Each is looked up whole: never a prefix or a part of a name.
_EXTRA_SPELLINGS: dict[str, tuple[str, ...]] = {
    "AL": ("Ala.",),
    "AK": ("Alas.",),
    "AZ": ("Ariz.",),
    "AR": ("Ark.",),
    "CA": ("Calif.", "Cal."),
    "CO": ("Colo.",),
    "CT": ("Conn.",),
    "DE": ("Del.",),
    "DC": (
        "D.C.",
        "Washington, D.C.",
        "Washington DC",
        "Wash. D.C.",
        "Washington, District of Columbia",
        "Dist. of Columbia",
    ),
    "FL": ("Fla.",),
    "GA": ("Ga.",),
    "HI": ("Hawai\u02bbi", "Hawai'i", "Hawai\u2019i"),
    "ID": ("Ida.",),
    "IL": ("Ill.",),
    "IN": ("Ind.",),
    "IA": ("Ia.",),
    "KS": ("Kan.", "Kans."),
    "KY": ("Ky.",),
    "LA": ("La.",),
    "ME": ("Me.",),
    "MD": ("Md.",),
    "MA": ("Mass.",),
    "MI": ("Mich.",),
    "MN": ("Minn.",),
    "MS": ("Miss.",),
    "MO": ("Mo.",),
    "MT": ("Mont.",),
    "NE": ("Neb.", "Nebr."),
    "NV": ("Nev.",),
    "NH": ("N.H.", "N. Hamp."),
    "NJ": ("N.J.",),
    "NM": ("N.M.", "N. Mex.", "N. Mexico"),
    "NY": ("N.Y.", "New York State", "N.Y.S."),
    "NC": ("N.C.", "N. Car.", "N. Carolina", "No. Carolina"),
    "ND": ("N.D.", "N. Dak.", "N. Dakota", "No. Dakota"),
    "OK": ("Okla.",),
    "OR": ("Ore.", "Oreg."),
    "PA": ("Pa.", "Penn.", "Penna."),
    "RI": ("R.I.",),
    "SC": ("S.C.", "S. Car.", "S. Carolina", "So. Carolina"),
    "SD": ("S.D.", "S. Dak.", "S. Dakota", "So. Dakota"),
    "TN": ("Tenn.",),
    "TX": ("Tex.",),
    "UT": ("Ut.",),
    "VT": ("Vt.",),
    "VA": ("Va.",),
    "WA": ("Wash.", "Washington State", "Wash. State", "WA State"),
    "WV": ("W.Va.", "W. Virginia"),
    "WI": ("Wis.", "Wisc."),
    "WY": ("Wyo.",),
    "AS": ("Amer. Samoa",),
    "MP": ("N. Mariana Islands", "Northern Marianas", "CNMI"),
    "PR": ("P.R.",),
    "VI": ("V.I.", "US Virgin Islands", "Virgin Islands", "U.S.V.I.", "Virgin Is."),
}

# What `state_key` leaves out: case, spaces, dots, commas and apostrophes never tell two states apart
# ("N. Y." is "NY", "Washington, D.C." is "Washington DC"; "West Virginia" keeps its "west").
_STATE_KEY_DROPPED = re.compile(r"[\s.,'\u2019\u02bb`]+")


def state_key(text: str) -> str:
    """How a state answer is looked up: NFKC, casefolded, without spaces, dots, commas or apostrophes."""
    return _STATE_KEY_DROPPED.sub("", unicodedata.normalize("NFKC", text).casefold())


def _state_lookup() -> dict[str, str]:
    """`state_key` of every code, name and other spelling → USPS code.

    Refuses (at import) a table where two states' spellings share a key, so a lookup can never land on a wrong
    state. Also holds each name casefolded with its spaces (for callers that only casefold, like the benchmark floor).
    """
    spellings = [(code, code) for code in USPS_STATES] + [(name, code) for code, name in USPS_STATES.items()]
    spellings += [(text, code) for code, texts in _EXTRA_SPELLINGS.items() for text in texts]
    table: dict[str, str] = {}
    for text, code in spellings:
        for key in (state_key(text), " ".join(text.casefold().split())):
            if table.setdefault(key, code) != code:
                raise ValueError(f"state spelling {text!r} is also a spelling of {table[key]}")
    return table


STATE_LOOKUP: dict[str, str] = _state_lookup()
