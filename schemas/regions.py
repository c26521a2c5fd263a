"""US Census Bureau regions of the states and DC, for the equity comparison (tasks/equity.py): a team's region is
its state's, so staff see at a glance whether a part of the country is left out. The territories belong to none of
the four regions and are grouped under their own name."""

from enum import StrEnum


class Region(StrEnum):
    """The four census regions, in the Census Bureau's order, and the territories outside them."""

    NORTHEAST = "Northeast"
    MIDWEST = "Midwest"
    SOUTH = "South"
    WEST = "West"
    TERRITORIES = "U.S. territories"


_STATES_OF: dict[Region, tuple[str, ...]] = {
    Region.NORTHEAST: ("CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"),
    Region.MIDWEST: ("IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"),
    Region.SOUTH: (
        "DE",
        "DC",
        "FL",
        "GA",
        "MD",
        "NC",
        "SC",
        "VA",
        "WV",
        "AL",
        "KY",
        "MS",
        "TN",
        "AR",
        "LA",
        "OK",
        "TX",
    ),
    Region.WEST: ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"),
    Region.TERRITORIES: ("AS", "GU", "MP", "PR", "VI"),
}

# USPS code -> region, for every code of schemas/states.USPS_STATES (tests/test_equity.py checks it covers them).
CENSUS_REGION: dict[str, Region] = {code: region for region, codes in _STATES_OF.items() for code in codes}
