"""Word lists the simulated world is built from, and the ASR confusion tables.

Everything here is hand-written data: catalog names are combined from these words by `catalog.py`,
and `CONFUSIONS` maps a word to what a mediocre speech recogniser hears instead (homophones, split or
merged words, spelling variants of names, plural flips). The confusion of an entity name is fixed,
so the same wrong text recurs across users: the raw material of the rewrite miner.
"""

from __future__ import annotations

# fmt: off
ADJECTIVES = [
    "silver", "golden", "velvet", "crimson", "hollow", "broken", "electric", "midnight", "wild", "quiet",
    "burning", "frozen", "lonely", "lucky", "little", "bright", "neon", "paper", "glass", "iron", "stone",
    "crystal", "scarlet", "violet", "blue", "red", "black", "white", "green", "gentle", "restless", "secret",
    "sweet", "bitter", "lost", "last", "hidden", "northern", "endless", "faded", "fallen", "rising",
    "sleeping", "dancing", "howling", "wandering", "painted", "silent", "summer", "winter", "autumn",
    "morning", "distant", "tender", "heavy", "empty", "pale", "rusty", "stormy", "misty", "young", "royal",
    "wicked", "brave", "fearless", "cosmic", "copper", "amber",
]

NOUNS = [
    "dragon", "river", "mountain", "shadow", "lantern", "harbor", "ember", "fever", "echo", "tide", "rose",
    "knight", "night", "sea", "rain", "road", "heart", "fire", "storm", "valley", "garden", "mirror",
    "window", "ocean", "thunder", "sparrow", "wolf", "fox", "bear", "lion", "tiger", "raven", "crow", "hawk",
    "owl", "horse", "pilot", "sailor", "king", "queen", "ghost", "giant", "saint", "rebel", "stranger",
    "machine", "satellite", "comet", "star", "moon", "planet", "light", "bell", "drum", "key", "wire",
    "wave", "stone", "flower", "arrow", "sword", "crown", "kite", "train", "island", "canyon", "forest",
    "meadow", "desert", "city", "street", "bridge", "tower", "castle", "house", "door", "letter", "promise",
    "secret", "summer", "winter", "daughter", "son", "sun", "tale", "whale", "bird",
]

IRREGULAR_PLURALS = {"wolf": "wolves", "city": "cities", "fox": "foxes", "daughter": "daughters"}

FIRST_NAMES = [
    "jenna", "marcus", "ava", "leo", "nora", "caleb", "mia", "owen", "lila", "ezra", "ruby", "silas",
    "hazel", "felix", "ivy", "jonah", "cora", "milo", "stella", "theo", "clara", "jasper", "elise", "dean",
    "maya", "rhys", "sadie", "luca", "tessa", "gideon", "june", "abel", "piper", "rowan", "vera", "cole",
    "nina", "reid", "talia", "wade",
]

LAST_NAMES = [
    "marlow", "hayes", "carver", "bennett", "sloane", "whitaker", "ellison", "frost", "delgado", "okafor",
    "lindqvist", "moreau", "castellano", "abernathy", "quinn", "holloway", "pierce", "vance", "kessler",
    "navarro", "ashby", "thornton", "reyes", "calloway", "mercer", "donnelly", "fairbanks", "greer", "hale",
    "ivers", "jett", "kowalski", "lacroix", "maddox", "nakamura", "prescott", "rourke", "sterling",
    "trevino", "winslow",
]

CITY_ROOTS = [
    "ashford", "lyndon", "millbrook", "fairhaven", "oakridge", "brookfield", "riverton", "westfall",
    "hollis", "kingsbury", "marston", "pembrook", "redmond", "shelby", "thornbury", "wexley", "alder",
    "bellmont", "cedar", "dunmore", "elmwood", "foxboro", "glenwood", "hartley", "ironwood", "kendall",
    "larkspur", "maplewood", "norwood", "pinecrest", "rockport", "stanton", "tilbury", "underhill",
    "willow", "barrow", "clayton", "denton", "everly", "granby",
]
CITY_PREFIXES = ["port", "east", "west", "north", "lake", "fort", "mount", "new", "saint", "south"]

MASCOTS = [
    "warriors", "hawks", "bears", "comets", "pilots", "rangers", "titans", "wolves", "knights", "mariners",
    "rockets", "stallions", "falcons", "tigers", "giants", "raiders", "storm", "thunder", "express",
    "united",
]

GENRES = [
    "rock", "jazz", "classical", "hip hop", "country", "pop", "blues", "reggae", "metal", "folk", "soul",
    "lo fi", "electronic", "indie", "disco", "gospel",
]
CUISINES = [
    "italian", "mexican", "thai", "chinese", "indian", "japanese", "greek", "french", "korean",
    "vietnamese", "ethiopian", "barbecue", "spanish", "lebanese",
]
# taught preferences (`users.py`): in popularity order; the first is what the assistant uses when none is taught
NEWS_SOURCES = [
    "npr", "bbc", "cnn", "fox news", "reuters", "the wall street journal", "the new york times", "associated press",
    "bloomberg", "abc news", "the guardian", "al jazeera",
]
MUSIC_SERVICES = ["amazon music", "spotify", "apple music", "pandora", "youtube music", "tidal", "iheartradio", "deezer"]
NEWS_TOPICS = ["sports", "politics", "technology", "business", "science", "health", "entertainment", "world"]
ROOMS = ["kitchen", "living room", "bedroom", "bathroom", "office", "garage", "hallway", "basement", "dining room"]
APPLIANCES = [
    "lights", "lamp", "fan", "heater", "air conditioner", "tv", "coffee maker", "dishwasher", "porch light",
    "humidifier", "plug", "oven",
]
PRODUCT_ITEMS = [
    "paper towels", "toilet paper", "oat milk", "whole milk", "eggs", "coffee beans", "dish soap",
    "laundry detergent", "aa batteries", "aaa batteries", "trash bags", "olive oil", "peanut butter",
    "bananas", "apples", "orange juice", "bread", "butter", "rice", "pasta", "tomato sauce", "cat food",
    "dog food", "shampoo", "toothpaste", "sparkling water", "green tea", "cereal", "yogurt", "cheddar cheese",
    "light bulbs", "sponges", "hand soap", "sunscreen", "granola bars", "frozen pizza", "ice cream",
    "chicken breast", "ground coffee", "almonds",
]
BRANDS = [
    "kirkwood", "sunvale", "northfield", "bluecrest", "harvest moon", "everfresh", "clearbrook", "goldleaf",
    "pinehill", "brightside",
]
LANDMARK_FORMS = ["the {root} tower", "mount {root}", "the {root} bridge", "{root} cathedral", "the {root} dam"]

# spoken number words for timers, alarms and the thermostat
NUMBER_WORDS = {
    1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
    10: "ten", 11: "eleven", 12: "twelve", 15: "fifteen", 20: "twenty", 25: "twenty five", 30: "thirty",
    40: "forty", 45: "forty five", 60: "sixty", 62: "sixty two", 64: "sixty four", 65: "sixty five",
    66: "sixty six", 68: "sixty eight", 70: "seventy", 72: "seventy two", 74: "seventy four", 75: "seventy five",
    90: "ninety",
}
TIMER_MINUTES = [10, 5, 15, 20, 30, 3, 2, 1, 45, 25, 8, 12, 40, 6, 4, 7, 90]  # popularity order
ALARM_HOURS = [7, 6, 8, 5, 9, 10, 11, 12]  # popularity order
THERMOSTAT_DEGREES = [62, 64, 65, 66, 68, 70, 72, 74, 75]

# What a recogniser hears instead of a word: homophones, near-homophones, split or merged words and
# spelling variants. Applied to ONE word of an entity name, chosen once per entity.
CONFUSIONS = {
    # title words
    "silver": "sliver", "golden": "holden", "velvet": "vel vet", "crimson": "crimsin", "hollow": "hello",
    "broken": "brokin", "electric": "electrick", "midnight": "mid night", "wild": "wiled", "quiet": "quite",
    "burning": "turning", "frozen": "frozin", "lonely": "only", "lucky": "lucy", "little": "lyttle",
    "bright": "right", "neon": "knee on", "paper": "pepper", "glass": "class", "iron": "i ran",
    "stone": "stoned", "crystal": "kristal", "scarlet": "scarlett", "violet": "violent", "blue": "blew",
    "red": "read", "black": "block", "white": "wide", "green": "greene", "gentle": "gentile",
    "restless": "rest less", "secret": "secrete", "sweet": "suite", "bitter": "better", "lost": "last",
    "last": "lost", "hidden": "hid in", "northern": "norther", "endless": "end less", "faded": "fated",
    "fallen": "falling", "rising": "raising", "sleeping": "slipping", "dancing": "dansing",
    "howling": "howlin", "wandering": "wondering", "painted": "pointed", "silent": "silence",
    "summer": "some are", "winter": "winner", "autumn": "auto", "morning": "mourning", "distant": "this tent",
    "tender": "tinder", "heavy": "heavey", "empty": "m t", "pale": "pail", "rusty": "rusted",
    "stormy": "stormie", "misty": "missed he", "young": "yung", "royal": "roil", "wicked": "wick it",
    "brave": "braid", "fearless": "fearlis", "cosmic": "cosmetic", "copper": "cop her", "amber": "ember",
    "dragon": "drag in", "dragons": "dragon", "river": "rivers", "rivers": "river", "mountain": "mounting",
    "shadow": "shadows", "shadows": "shadow", "lantern": "lanterns", "harbor": "harper", "harbors": "harpers",
    "ember": "amber", "embers": "ambers", "fever": "fiver", "echo": "eco", "echoes": "echo is",
    "tide": "tied", "tides": "ties", "rose": "rows", "roses": "rosies", "knight": "night",
    "knights": "nights", "night": "knight", "nights": "knights", "sea": "see", "seas": "sees", "rain": "reign",
    "road": "rode", "roads": "rhodes", "heart": "hart", "hearts": "harts", "fire": "fryer", "storm": "store",
    "valley": "volley", "garden": "guardian", "mirror": "mere", "window": "windows", "ocean": "motion",
    "thunder": "under", "sparrow": "sparrows", "sparrows": "sparrow", "wolf": "woof", "wolves": "wolfs",
    "fox": "fax", "foxes": "faxes", "bear": "bare", "bears": "bares", "lion": "lying", "lions": "lines",
    "tiger": "tigger", "tigers": "tiggers", "raven": "craven", "ravens": "ravins", "crow": "crowe",
    "crows": "crowes", "hawk": "hock", "hawks": "hocks", "owl": "vowel", "owls": "howls", "horse": "hoarse",
    "horses": "hoarses", "pilot": "pirate", "pilots": "pirates", "sailor": "sailer", "sailors": "sellers",
    "king": "kin", "kings": "kins", "queen": "quinn", "queens": "queen", "ghost": "goes", "ghosts": "goats",
    "giant": "giants", "giants": "giant", "saint": "sane", "saints": "saint", "rebel": "revel",
    "rebels": "revels", "stranger": "strange her", "strangers": "strange hers", "machine": "machines",
    "machines": "machine", "satellite": "satellites", "satellites": "settle lights", "comet": "comment",
    "comets": "comments", "star": "stars", "stars": "stairs", "moon": "mood", "moons": "moods",
    "planet": "plan it", "planets": "plan its", "light": "like", "lights": "likes", "bell": "belle",
    "bells": "belles", "drum": "drama", "drums": "dramas", "key": "kee", "keys": "keats", "wire": "wider",
    "wires": "wiser", "wave": "wade", "waves": "ways", "stones": "stone", "flower": "flour",
    "flowers": "flours", "arrow": "arrows", "arrows": "errors", "sword": "soared", "swords": "soared",
    "crown": "clown", "crowns": "clowns", "kite": "kit", "kites": "kits", "train": "trained",
    "trains": "trance", "island": "i land", "islands": "i lands", "canyon": "can yon", "canyons": "can young",
    "forest": "for rest", "forests": "for rests", "meadow": "metal", "meadows": "metals", "desert": "dessert",
    "deserts": "desserts", "city": "sitty", "cities": "sit is", "street": "streak", "streets": "streaks",
    "bridge": "britch", "bridges": "britches", "tower": "power", "towers": "powers", "castle": "cassel",
    "castles": "cassels", "house": "how is", "houses": "how says", "door": "dore", "doors": "drawers",
    "letter": "ladder", "letters": "ladders", "promise": "promises", "daughter": "water", "daughters": "waters",
    "son": "sun", "sun": "son", "tale": "tail", "tales": "tails", "whale": "wail", "whales": "wales",
    "bird": "burred", "birds": "bards", "imagine": "maj and",
    # person names
    "jenna": "gina", "marcus": "markus", "ava": "eva", "leo": "leah", "nora": "norah", "caleb": "kaleb",
    "mia": "maya", "owen": "owing", "lila": "lilah", "ezra": "esra", "ruby": "rudy", "silas": "silis",
    "hazel": "hazle", "felix": "phelix", "ivy": "ivey", "jonah": "jona", "cora": "kora", "milo": "mylo",
    "stella": "stela", "theo": "teo", "clara": "clare a", "jasper": "jaspar", "elise": "elyse", "dean": "dene",
    "maya": "mia", "rhys": "reese", "sadie": "sadly", "luca": "luka", "tessa": "tesla", "gideon": "giddy in",
    "june": "joon", "abel": "able", "piper": "pipe her", "rowan": "rowing", "vera": "vira", "cole": "coal",
    "nina": "nine a", "reid": "reed", "talia": "thalia", "wade": "weighed",
    "marlow": "marlo", "hayes": "haze", "carver": "carvel", "bennett": "bennet", "sloane": "slow and",
    "whitaker": "white acre", "ellison": "allison", "frost": "frosts", "delgado": "del gato",
    "okafor": "oak a four", "lindqvist": "lind quist", "moreau": "more oh", "castellano": "castle ano",
    "abernathy": "abernathie", "quinn": "queen", "holloway": "hollow way", "pierce": "peers", "vance": "vans",
    "kessler": "kestler", "navarro": "navaro", "ashby": "ash be", "thornton": "thorn ton", "reyes": "rays",
    "calloway": "calla way", "mercer": "mercy", "donnelly": "donely", "fairbanks": "fair banks",
    "greer": "grier", "hale": "hail", "ivers": "ivors", "jett": "jet", "kowalski": "kovalski",
    "lacroix": "la croix", "maddox": "mad ox", "nakamura": "naka mura", "prescott": "press cot",
    "rourke": "rork", "sterling": "stirling", "trevino": "trevin oh", "winslow": "wins low",
    # places
    "ashford": "ash ford", "lyndon": "linden", "millbrook": "mill brook", "fairhaven": "fair haven",
    "oakridge": "oak ridge", "brookfield": "brook field", "riverton": "river town", "westfall": "west fall",
    "hollis": "hollice", "kingsbury": "kings bury", "marston": "martian", "pembrook": "pem brook",
    "redmond": "red mond", "shelby": "shelly", "thornbury": "thorn berry", "wexley": "wexly", "alder": "alter",
    "bellmont": "belmont", "cedar": "seeder", "dunmore": "done more", "elmwood": "elm wood",
    "foxboro": "fox borough", "glenwood": "glen wood", "hartley": "heartly", "ironwood": "iron wood",
    "kendall": "kendal", "larkspur": "lark spur", "maplewood": "maple wood", "norwood": "nor wood",
    "pinecrest": "pine crest", "rockport": "rock port", "stanton": "stan ton", "tilbury": "till bury",
    "underhill": "under hill", "willow": "willa", "barrow": "borrow", "clayton": "clay ton", "denton": "dent on",
    "everly": "ever lee", "granby": "gran be", "port": "pork", "east": "yeast", "west": "vest", "north": "nor",
    "lake": "lick", "fort": "fourth", "mount": "mound", "new": "knew", "south": "mouth",
    # teams and other words
    "warriors": "worriers", "rangers": "strangers", "titans": "tightens",
    "mariners": "marinas", "rockets": "rackets", "stallions": "scallions", "falcons": "falcon",
    "raiders": "raters", "express": "expresso", "united": "untied",
    "harry": "hairy", "potter": "powder",
}

# Well-known names with a well-known mishearing (the rest of the world's confusions are drawn).
HEAD_CONFUSIONS = {
    "imagine dragons": "maj and dragons", "oakridge warriors": "oakridge worriers", "harry potter": "hairy potter",
    "jenna marlow": "gina marlow", "the silver lanterns": "the sliver lanterns",
}

# Frequent non-entity words that a recogniser confuses, independent of the user.
WORD_CONFUSIONS = {
    "for": "four", "to": "two", "off": "of", "on": "an", "the": "a", "timer": "time", "lights": "likes",
    "weather": "whether", "play": "pay", "add": "at", "list": "lest", "set": "sit", "turn": "tern",
    "news": "noose", "alarm": "a lawn", "temperature": "temper chur", "what's": "was", "score": "store",
    "find": "fine", "restaurant": "rest a rant", "minutes": "minute", "read": "red", "watch": "wash",
    "order": "odor", "my": "by", "me": "be",
}

# Background speech a device mistakes for its wake word; the recogniser then transcribes it.
TV_CHATTER = [
    "and now back to the studio", "we'll be right back after this", "i told you not to call me here",
    "the quarterback takes the snap", "stay tuned for the weather", "that's a great question",
    "can you believe what she said", "i'm not going anywhere", "ladies and gentlemen", "previously on",
    "he shoots he scores", "in other news tonight", "call now operators are standing by",
    "let's take a look at the forecast", "where were you last night", "this is not over",
    "brought to you by", "the following program", "i think we should talk", "turn it around",
    "you have to see this", "the markets closed higher today", "and the crowd goes wild",
    "don't forget to subscribe", "two minutes left in the half", "what are you doing here",
    "i love you too", "back after the break", "welcome back to the show", "are you serious",
    "it's going to be a long night", "limited time offer", "please remain seated", "tell me everything",
    "the jury has reached a verdict", "coming up next", "and that's the game", "bring it home",
    "play it again", "what is that", "no way", "hey come here", "okay okay", "turn that off",
]
# fmt: on
