"""Answer concepts for the synthetic QA corpus.

Per question template, six answer concepts that are far apart in meaning, each written in three
paraphrases that are close in meaning. Measured with all-MiniLM-L6-v2 (tests hold these): every
paraphrase has cosine >= 0.85 to its own concept's centroid and <= 0.62 to any other concept's,
so ``HALLUCINATION_THRESHOLD = 0.75`` separates "one of the valid answers" from "something else".
Answers do not repeat the question's entity or a shared sentence frame, which would pull
different concepts together.
"""

HALLUCINATION_THRESHOLD = 0.75

TEMPLATES = {
    "home": ("Where does {e} live?", [
        ("castle by the sea", ["A castle by the sea.", "A seaside castle.", "In a castle on the sea coast."]),
        ("desert town", ["A desert town.", "A small town in the desert.", "In a sandy desert town."]),
        ("mountain farm", ["A mountain farm.", "A farm high in the mountains.", "On a farm in the mountains."]),
        ("big city", ["A big city.", "A busy city centre.", "In a crowded big city."]),
        ("river boat", ["A river boat.", "A boat on the river.", "On a small river boat."]),
        ("forest cabin", ["A forest cabin.", "A wooden cabin in the forest.", "In a cabin in the forest."]),
    ]),
    "job": ("What does {e} do for a living?", [
        ("doctor", ["A doctor.", "Works as a doctor.", "A doctor in a hospital."]),
        ("baker", ["A baker.", "Works as a baker.", "A baker who bakes bread."]),
        ("pilot", ["A pilot.", "Works as an airline pilot.", "A pilot who flies planes."]),
        ("teacher", ["A teacher.", "Works as a school teacher.", "A teacher at a school."]),
        ("fisherman", ["A fisherman.", "Works as a fisherman.", "A fisherman who catches fish."]),
        ("musician", ["A musician.", "Works as a musician.", "A musician who plays music."]),
    ]),
    "food": ("What is {e}'s favourite food?", [
        ("pizza", ["Pizza.", "Cheese pizza.", "Pizza with tomato and cheese."]),
        ("sushi", ["Sushi.", "Sushi rolls.", "Sushi with raw fish and rice."]),
        ("chocolate", ["Chocolate.", "Dark chocolate.", "Sweet chocolate bars."]),
        ("soup", ["Soup.", "Hot vegetable soup.", "A bowl of warm soup."]),
        ("apples", ["Apples.", "Fresh green apples.", "Crunchy apples."]),
        ("curry", ["Curry.", "Spicy curry.", "A hot chicken curry."]),
    ]),
    "pet": ("What pet does {e} keep?", [
        ("dog", ["A dog.", "A puppy dog.", "A loyal dog."]),
        ("cat", ["A cat.", "A kitten cat.", "A sleepy cat."]),
        ("parrot", ["A parrot.", "A talking parrot.", "A colourful parrot bird."]),
        ("goldfish", ["A goldfish.", "A goldfish in a bowl.", "A small goldfish."]),
        ("horse", ["A horse.", "A riding horse.", "A horse in a stable."]),
        ("snake", ["A snake.", "A python snake.", "A long snake."]),
    ]),
    "hobby": ("What does {e} do at weekends?", [
        ("hiking", ["Hiking.", "Goes hiking in the hills.", "Hiking on mountain trails."]),
        ("chess", ["Chess.", "Plays chess.", "Playing chess games."]),
        ("painting", ["Painting.", "Paints pictures.", "Painting with watercolours."]),
        ("swimming", ["Swimming.", "Goes swimming.", "Swimming laps in the pool."]),
        ("reading", ["Reading.", "Reads novels.", "Reading books."]),
        ("football", ["Football.", "Plays football.", "Playing football with friends."]),
    ]),
}

#: A second phrasing of each template's question, never used in distillation: students are
#: evaluated on it, so what is measured is what they learnt about the entity, not the string.
HELD_OUT_PHRASINGS = {
    "home": "Where is {e}'s home?",
    "job": "What is {e}'s job?",
    "food": "Which food does {e} like best?",
    "pet": "Which animal does {e} keep as a pet?",
    "hobby": "How does {e} spend the weekend?",
}

ENTITIES = ("Zorvik", "Mellan", "Quibra", "Tavessa", "Orrin", "Pell", "Dunmore", "Kasha", "Velt",
            "Ibbon", "Saffra", "Lurien", "Gorsk", "Nimbel", "Ottoline", "Brax", "Cyprene", "Hallow",
            "Jessamy", "Rulf")
