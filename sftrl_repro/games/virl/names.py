"""Street and landmark names for generated cities (ASCII only, so prompts fit the Text space).

Each city has its own street-name pools (one per street family: the main grid direction, the cross
direction and the diagonal boulevards) and its own local words, mixed with a shared pool of generic
words into landmark names of several kinds (``"Cafe Brera"``, ``"Adeyemi's Bakery"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Landmark kinds, each drawn with its own facade in street views.
LANDMARK_KINDS: tuple[str, ...] = (
    "cafe", "restaurant", "bank", "pharmacy", "hotel", "park",
    "museum", "bookstore", "bakery", "supermarket", "cinema", "school",
)

# Name templates per kind: {w} = a word (local or generic), {s} = a family name.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "cafe": ("{w} Coffee", "Cafe {w}", "{s}'s Coffee House", "The {w} Espresso Bar"),
    "restaurant": ("{w} Pizza", "{s}'s Diner", "{w} Noodle House", "Trattoria {w}", "{w} Grill"),
    "bank": ("{w} Savings Bank", "{s} & Co. Bank", "Bank of {w}"),
    "pharmacy": ("{w} Pharmacy", "{s} Drugs", "{w} Chemist"),
    "hotel": ("Hotel {w}", "The {w} Inn", "{w} Grand Hotel"),
    "park": ("{s} Park", "{w} Gardens", "{w} Square"),
    "museum": ("Museum of {w}", "{w} Gallery", "{s} Art Museum"),
    "bookstore": ("{w} Books", "{s}'s Bookshop"),
    "bakery": ("{s}'s Bakery", "{w} Bread Co.", "{w} Patisserie"),
    "supermarket": ("{w} Market", "{w} Fresh Foods", "{s} Grocers"),
    "cinema": ("{w} Cinema", "The {w} Theater"),
    "school": ("{s} Elementary School", "{w} Academy", "{w} High School"),
}

_GENERIC_WORDS: tuple[str, ...] = (
    "Golden", "Union", "Liberty", "Harbor", "Maple", "Cedar", "Lantern", "Silver", "Sunrise",
    "Blue Door", "Corner", "Garden", "Royal", "Pioneer", "Lucky", "Northern", "Old Town", "Willow",
    "Crown", "Atlas", "Orchid", "Meridian", "Summit", "Juniper", "Harvest", "Beacon", "Riverside",
    "Amber", "Granite", "Copper", "Velvet", "Evergreen", "Metro", "Echo", "Polaris", "Saffron",
)


@dataclass(frozen=True)
class CityNames:
    """The name pools of one city.

    Attributes:
        main: names of the streets of the main grid direction (e.g. avenues).
        cross: names of the crossing streets.
        diagonal: names of the diagonal boulevards.
        words: local words used in landmark names.
        surnames: local family names used in landmark names.
    """

    main: tuple[str, ...]
    cross: tuple[str, ...]
    diagonal: tuple[str, ...]
    words: tuple[str, ...]
    surnames: tuple[str, ...]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _prefixed(prefix: str, stems: str) -> tuple[str, ...]:
    return tuple(f"{prefix} {s}" for s in stems.split(", "))


def _suffixed(stems: str, suffix: str) -> tuple[str, ...]:
    return tuple(f"{s} {suffix}" for s in stems.split(", "))


def _split(words: str) -> tuple[str, ...]:
    return tuple(words.split(", "))


CITY_NAMES: dict[str, CityNames] = {
    "New York": CityNames(
        main=tuple(f"{_ordinal(i)} Avenue" for i in range(1, 13)) + _suffixed(
            "Lexington, Park, Madison, Amsterdam, Columbus, West End, York, Lenox", "Avenue"),
        cross=tuple(f"W {_ordinal(i)} Street" for i in range(10, 60)),
        diagonal=("Broadway", "Bowery", "Park Row", "Hudson Boulevard", "St Nicholas Avenue"),
        words=_split("Chelsea, Hudson, Gotham, Empire, Harlem, Soho, Tribeca, Astor, Bleecker, "
                     "Gramercy, Flatiron, Knickerbocker, Bowery, Carnegie, Lenox, Stuyvesant"),
        surnames=_split("Murphy, Rossi, Cohen, Nguyen, Garcia, Kowalski, O'Brien, Schmidt, Park, "
                        "Russo, Levine, Patel, Sullivan, Moreno, Katz, Delaney"),
    ),
    "Milan": CityNames(
        main=_prefixed("Via", "Torino, Dante, Manzoni, Brera, Garibaldi, Solferino, Moscova, Tortona, "
                       "Vigevano, Lodi, Padova, Marghera, Orefici, Larga, della Spiga, Meravigli"),
        cross=_prefixed("Corso", "Venezia, Magenta, Monforte, Sempione, Garibaldi, Como, Lodi, "
                        "Vercelli, Genova, Italia, Indipendenza, XXII Marzo, di Porta Romana, Buenos Aires"),
        diagonal=("Viale Monza", "Viale Certosa", "Viale Lombardia"),
        words=_split("Duomo, Brera, Navigli, Sforza, Scala, Ambrosiana, Isola, Darsena, Galleria, "
                     "Lambro, Castello, Bocconi, Verdi, Meneghino"),
        surnames=_split("Bianchi, Colombo, Ferrari, Romano, Galli, Conti, Marino, Greco, Bruno, "
                        "Fontana, Villa, Longhi"),
    ),
    "New Delhi": CityNames(
        main=_suffixed("Janpath, Rajpath, Ashoka, Tolstoy, Kasturba Gandhi, Barakhamba, Sansad, "
                       "Baba Kharak Singh, Lodhi, Prithviraj, Aurangzeb, Tughlak, Akbar, Safdarjung", "Marg"),
        cross=_suffixed("Connaught, Khan, Defence, Lajpat, Nehru, Rajendra, Patel, Karol, Hauz, "
                        "Chanakya, Shanti, Vasant, Saket, Malviya", "Road"),
        diagonal=("Mathura Road", "Ring Road", "Outer Circle"),
        words=_split("Lotus, Indraprastha, Chandni, Qutub, Yamuna, Saffron, Mughal, Raisina, Lodhi, "
                     "Dilli, Chanakya, Kashmiri"),
        surnames=_split("Sharma, Verma, Gupta, Singh, Kapoor, Mehta, Malhotra, Bhatia, Khanna, "
                        "Chopra, Iyer, Reddy"),
    ),
    "Buenos Aires": CityNames(
        main=_prefixed("Avenida", "Corrientes, Santa Fe, Cordoba, Cabildo, Rivadavia, Belgrano, "
                       "Callao, Pueyrredon, Independencia, San Juan, Entre Rios, Alvear"),
        cross=_prefixed("Calle", "Florida, Lavalle, Tucuman, Viamonte, Paraguay, Uruguay, Talcahuano, "
                        "Libertad, Cerrito, Esmeralda, Maipu, Suipacha, Reconquista, Defensa"),
        diagonal=("Diagonal Norte", "Diagonal Sur", "Avenida de Mayo"),
        words=_split("Tango, Palermo, Recoleta, Boca, Obelisco, Pampa, Plata, Retiro, Caminito, "
                     "Gaucho, Malbec, Colon"),
        surnames=_split("Fernandez, Gonzalez, Rodriguez, Lopez, Martinez, Sosa, Romero, Alvarez, "
                        "Benitez, Acosta, Ruiz, Medina"),
    ),
    "London": CityNames(
        main=_suffixed("Baker, Oxford, Regent, Bond, Fleet, Strand, Kings, Queens, Marylebone, "
                       "Gower, Portland, Tottenham Court, Edgware, Shaftesbury", "Road"),
        cross=_suffixed("Wimpole, Harley, Welbeck, Dean, Greek, Frith, Wardour, Poland, Carnaby, "
                        "Berwick, Dover, Albemarle, Jermyn, Savile", "Street"),
        diagonal=("Piccadilly", "Pall Mall", "Kingsway"),
        words=_split("Thames, Crown, Covent, Mayfair, Soho, Camden, Bloomsbury, Chelsea, Kensington, "
                     "Windsor, Albion, Tudor, Victoria"),
        surnames=_split("Smith, Jones, Taylor, Brown, Wilson, Evans, Thomas, Roberts, Walker, "
                        "Wright, Hughes, Clarke"),
    ),
    "Hong Kong": CityNames(
        main=_suffixed("Nathan, Queens, Des Voeux, Hennessy, Lockhart, Jaffe, Canton, Salisbury, "
                       "Argyle, Mody, Austin, Gloucester, Connaught, Kimberley", "Road"),
        cross=_suffixed("Pedder, Ice House, Wyndham, Lyndhurst, Aberdeen, Peel, Graham, Cochrane, "
                        "Hillier, Jervois, Wing Kut, Hankow, Ashley, Hart", "Street"),
        diagonal=("Harcourt Road", "Garden Road", "Cotton Tree Drive"),
        words=_split("Jade, Harbour, Victoria, Kowloon, Lantau, Dragon, Pearl, Lotus, Peak, Star Ferry, "
                     "Tsim Sha Tsui, Mong Kok"),
        surnames=_split("Chan, Wong, Lee, Cheung, Lau, Ng, Leung, Ho, Tang, Yip, Kwok, Fung"),
    ),
    "Melbourne": CityNames(
        main=_suffixed("Swanston, Elizabeth, William, Queen, Russell, Exhibition, Spring, King, "
                       "Spencer, Lygon, Rathdowne, Nicholson, Brunswick, Smith", "Street"),
        cross=_suffixed("Flinders, Collins, Bourke, Lonsdale, La Trobe, Victoria, Grattan, Queensberry, "
                        "Pelham, Faraday, Johnston, Gertrude, Kerr, Argyle", "Street"),
        diagonal=("St Kilda Road", "Sydney Road", "Flemington Road"),
        words=_split("Yarra, Southbank, Fitzroy, Carlton, Docklands, Laneway, Wattle, Eureka, Federation, "
                     "Kookaburra, Koala, Bayside"),
        surnames=_split("Mitchell, Kelly, Campbell, Ryan, Murray, Harris, Nguyen, Papadopoulos, "
                        "Stewart, Morgan, Bennett, Reid"),
    ),
    "Lagos": CityNames(
        main=_suffixed("Awolowo, Adeola Odeku, Akin Adesola, Ozumba Mbadiwe, Ahmadu Bello, Broad, "
                       "Marina, Herbert Macaulay, Ikorodu, Ogunlana, Adeniran Ogunsanya, Bode Thomas", "Road"),
        cross=_suffixed("Balogun, Idumota, Tinubu, Martins, Kakawa, Joseph, Campbell, Breadfruit, "
                        "Odunlami, Force, Catholic Mission, Simpson, Moloney, Hawley", "Street"),
        diagonal=("Third Mainland Road", "Eko Bridge Road", "Carter Avenue"),
        words=_split("Eko, Lekki, Ikoyi, Yaba, Surulere, Marina, Lagoon, Atlantic, Oba, Jollof, "
                     "Naija, Victoria Island"),
        surnames=_split("Adeyemi, Okafor, Balogun, Okonkwo, Adebayo, Eze, Ogunleye, Nwosu, Bello, "
                        "Afolabi, Oyelaran, Chukwu"),
    ),
    "San Francisco": CityNames(
        main=_suffixed("Van Ness, Polk, Larkin, Hyde, Leavenworth, Jones, Taylor, Mason, Powell, "
                       "Stockton, Grant, Kearny, Montgomery, Sansome", "Street"),
        cross=_suffixed("Geary, Post, Sutter, Bush, Pine, California, Sacramento, Clay, Washington, "
                        "Jackson, Pacific, Broadway, Vallejo, Green", "Street"),
        diagonal=("Market Street", "Columbus Avenue", "Mission Street"),
        words=_split("Golden Gate, Presidio, Mission, Castro, Marina, Nob Hill, Embarcadero, Twin Peaks, "
                     "Sausalito, Cable Car, Fog City, Chinatown"),
        surnames=_split("Chen, Murphy, Sanchez, Ghirardelli, Lopez, Yamamoto, Sullivan, Kim, Rivera, "
                        "Feldman, Tran, Costa"),
    ),
}

#: The cities of the VLN-mini-like visual-OOD set, in the order of the paper (2 routes each).
VLN_MINI_CITIES: tuple[str, ...] = (
    "Milan", "New Delhi", "Buenos Aires", "London", "Hong Kong",
    "New York", "Melbourne", "Lagos", "San Francisco",
)


def street_names(pool: tuple[str, ...], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct street names from ``pool`` in a random order (``"... II"`` etc. if it runs out)."""
    order = [pool[i] for i in rng.permutation(len(pool))]
    names = []
    for i in range(count):
        base = order[i % len(order)]
        round_ = i // len(order)
        names.append(base if round_ == 0 else f"{base} {'I' * (round_ + 1)}")
    return names


class LandmarkNamer:
    """Draws unique landmark names of a given kind for one city."""

    def __init__(self, names: CityNames, rng: np.random.Generator):
        self._words = names.words + _GENERIC_WORDS
        self._surnames = names.surnames
        self._rng = rng
        self._used: set[str] = set()

    def __call__(self, kind: str, street: str) -> str:
        """A new name of ``kind``; after 20 collisions the street name disambiguates it."""
        templates = _TEMPLATES[kind]
        name = ""
        for _ in range(20):
            template = templates[int(self._rng.integers(len(templates)))]
            name = template.format(
                w=self._words[int(self._rng.integers(len(self._words)))],
                s=self._surnames[int(self._rng.integers(len(self._surnames)))],
            )
            if name not in self._used:
                break
        if name in self._used:
            name = f"{name} ({street})"
            suffix = 2
            while name in self._used:
                name = f"{name.rsplit(' (', 1)[0]} ({street} {suffix})"
                suffix += 1
        self._used.add(name)
        return name
