// Word lists for the synthetic children's-stories corpus.
// Plain data, no logic. Everything is lower case unless it is a proper name.

export const GIRL_NAMES = `Lily Mia Emma Anna Lucy Sara Ella Zoe Ruby Rosa Maya Nina Leah Ivy Grace Clara Alice Hannah Julia
Molly Daisy Poppy Hazel Olive Stella Luna Nora Eva Ada Iris Amelia Chloe Sophie Emily Isla Layla Freya Jade Kate Amy Beth Tess
Wendy Fiona Greta Helen Irene Joy Kira Lola Mila Nadia Opal Pearl Quinn Rita Sally Tina Una Vera Willa Yara Zara Bella Cora
Dora Elsie Fay Gwen Holly Ines Jenny Kitty Lena Maggie Nell Penny Rose Suki Tilly Violet Wren Abby Bonnie Cleo Dana Edie Flora
Gina Heidi Jill Lara Mira Nia Polly Ria Sadie Tara
Ava Beatrice Carmen Delia Esme Frida Gemma Hope Imogen June Kayla Lila Matilda Nova Orla Phoebe Rosie Selma Thea Ursula
Vivian Winnie Ximena Yasmin Zelda Agnes Bea Celia Dottie Eliza Fern Gloria Hattie Ingrid Josie Lottie Mabel Nancy Olga Priya`.split(/\s+/);

export const BOY_NAMES = `Tom Ben Sam Max Leo Jack Tim Finn Noah Liam Oscar Theo Jake Luke Adam Eli Hugo Ivan Joe Kai Leon Milo
Nate Owen Paul Ray Seth Toby Vic Will Zack Alfie Arlo Billy Caleb Dan Ed Felix George Harry Ian Jonah Kevin Louis Mark Ned Otto
Peter Rex Rory Simon Ted Umar Vince Walt Xavi Yusuf Alex Bruno Carl Dev Eric Frank Gus Hank Isaac Jay Ken Lars Matt Nico Omar
Pete Remy Stan Teddy Victor Wes Bobby Charlie Danny Evan Fred Gabe Henry Jim Kit Lenny Marco Neil Ollie Perry Robin Sid Tony
Abel Bart Cody Drew Emil Flynn Grant Hector Igor Jasper Karl Lucas Miles Nolan Orson Pablo Quentin Ralph Silas Tobias
Ulric Vernon Wally Yuri Zeke Archie Barney Cyril Dexter Ernie Fergus Gordon Hamish Iggy Jules Kenny Lewis Monty Norman Percy`.split(/\s+/);

export const NEUTRAL_NAMES = `Sky Robin Sunny Pip Bean Dot Jo Ash Sage River Rain Bo Kim Lee Pat Sol Tay Remi Ari Noor Wren Pebble
Button Cricket Maple Clover Bramble Acorn Pepper Ziggy Bubbles Twig Puddle Fern Nutmeg Biscuit Cookie Jelly Sprout Moss
Marlo Juniper Indigo Rowan Ember Hollis Emery Blue Kiwi Waffles Noodle Pickle Squeak Tumble Sparky Dusty Fizz Mango`.split(/\s+/);

// kind: noun used for the character; young: how they may be called; home: where they live
export const ANIMALS = `rabbit fox bear mouse squirrel owl duck frog cat dog puppy kitten hedgehog deer pig goat sheep cow horse
pony lamb turtle tortoise snail bee butterfly ladybug ant bird robin sparrow penguin seal otter beaver badger mole lion tiger
elephant giraffe zebra monkey hippo crocodile dolphin whale fish crab octopus chicken hen goose swan parrot koala panda kangaroo
raccoon wolf camel donkey bat spider caterpillar worm dragon dinosaur unicorn
chipmunk hamster guinea_pig ferret lizard gecko flamingo peacock pelican stork toad newt beetle firefly moth
weasel skunk porcupine moose bison yak llama alpaca walrus polar_bear rhino cheetah leopard gorilla sloth`.split(/\s+/).map((w) => w.replace(/_/g, ' '));

export const PEOPLE_KINDS_GIRL = ['girl', 'little girl', 'young girl'];
export const PEOPLE_KINDS_BOY = ['boy', 'little boy', 'young boy'];
export const OTHER_KINDS = ['robot', 'little robot', 'toy soldier', 'snowman', 'teddy bear', 'rag doll', 'little cloud', 'kite', 'tiny star', 'little boat', 'little train', 'little car'];

// trait: adjective, a clause describing it, whether it is a flaw, the opposite virtue
export const TRAITS = [
  ['kind', 'always helped others', false],
  ['brave', 'was not afraid of anything', false],
  ['shy', 'did not like to talk to new friends', true],
  ['curious', 'loved to ask questions about everything', false],
  ['clever', 'was very good at solving problems', false],
  ['lazy', 'liked to sleep all day', true],
  ['grumpy', 'was often in a bad mood', true],
  ['cheerful', 'was always smiling', false],
  ['careful', 'always looked before leaping', false],
  ['clumsy', 'often tripped over things', true],
  ['proud', 'thought nobody was better', true],
  ['silly', 'loved to make funny faces', false],
  ['gentle', 'never hurt anyone', false],
  ['stubborn', 'never listened to anyone', true],
  ['helpful', 'liked to help with chores', false],
  ['greedy', 'never wanted to share anything', true],
  ['honest', 'always told the truth', false],
  ['playful', 'loved to play games', false],
  ['quiet', 'liked to sit and watch the clouds', false],
  ['busy', 'was always running from place to place', false],
  ['hungry', 'was always looking for snacks', false],
  ['sleepy', 'yawned all the time', false],
  ['friendly', 'said hello to everyone', false],
  ['impatient', 'hated waiting for anything', true],
  ['messy', 'never cleaned up', true],
  ['noisy', 'loved to shout and sing loudly', true],
  ['bossy', 'liked to tell everyone what to do', true],
  ['happy', 'loved the sunshine', false],
  ['small', 'was smaller than all the others', false],
  ['fast', 'could run faster than the wind', false],
  ['slow', 'took a long time to get anywhere', false],
  ['strong', 'could lift very heavy things', false],
  ['wise', 'knew many old stories', false],
  ['jealous', 'wanted what others had', true],
  ['forgetful', 'often forgot where things were', true],
  ['generous', 'liked to give things away', false],
  ['worried', 'was afraid that things would go wrong', true],
  ['adventurous', 'dreamed of faraway lands', false],
  ['polite', 'always said please and thank you', false],
  ['creative', 'loved to draw and paint', false],
];

// place: [name with article, preposition, a few things that are there]
export const PLACES = [
  ['the forest', 'in', ['tall trees', 'soft moss', 'a little stream']],
  ['the park', 'in', ['a big slide', 'green grass', 'a wooden bench']],
  ['the garden', 'in', ['red roses', 'a vegetable patch', 'a small pond']],
  ['the beach', 'on', ['golden sand', 'big waves', 'shiny shells']],
  ['the meadow', 'in', ['tall grass', 'yellow flowers', 'buzzing bees']],
  ['the farm', 'on', ['a red barn', 'a muddy field', 'a tall fence']],
  ['the village', 'in', ['little houses', 'a busy market', 'a stone bridge']],
  ['the town', 'in', ['a bakery', 'a toy shop', 'a big clock']],
  ['the city', 'in', ['tall buildings', 'busy streets', 'a big fountain']],
  ['the school', 'at', ['a big classroom', 'a playground', 'a library']],
  ['the river', 'by', ['cold water', 'smooth stones', 'a little boat']],
  ['the lake', 'by', ['quiet water', 'white swans', 'a wooden dock']],
  ['the hill', 'on', ['soft grass', 'a windy top', 'a lonely tree']],
  ['the mountain', 'on', ['cold snow', 'big rocks', 'a narrow path']],
  ['the jungle', 'in', ['long vines', 'loud birds', 'giant leaves']],
  ['the desert', 'in', ['hot sand', 'a cactus', 'a tiny oasis']],
  ['the zoo', 'at', ['many cages', 'a big pond', 'a snack stand']],
  ['the library', 'in', ['many books', 'quiet tables', 'a reading corner']],
  ['the kitchen', 'in', ['a warm oven', 'a big table', 'shiny pots']],
  ['the attic', 'in', ['old boxes', 'dusty toys', 'a small window']],
  ['the backyard', 'in', ['a swing', 'a sandbox', 'a tall fence']],
  ['the playground', 'at', ['a seesaw', 'a sandbox', 'a climbing frame']],
  ['the pond', 'by', ['green lily pads', 'little frogs', 'tall reeds']],
  ['the cave', 'in', ['dark corners', 'cold stones', 'a tiny bat']],
  ['the castle', 'in', ['high towers', 'a big gate', 'long halls']],
  ['the island', 'on', ['palm trees', 'white sand', 'blue water']],
  ['the market', 'at', ['fresh fruit', 'loud sellers', 'colorful tents']],
  ['the bakery', 'at', ['warm bread', 'sweet cakes', 'a friendly baker']],
  ['the orchard', 'in', ['apple trees', 'ripe pears', 'a wooden ladder']],
  ['the field', 'in', ['tall corn', 'a scarecrow', 'a dusty road']],
  ['the woods', 'in', ['old oaks', 'fallen leaves', 'a hidden path']],
  ['the seaside', 'at', ['seagulls', 'rock pools', 'a lighthouse']],
  ['the snowy valley', 'in', ['white snow', 'icy trees', 'a frozen pond']],
  ['the toy shop', 'in', ['shiny toys', 'colorful boxes', 'a big teddy bear']],
  ['the museum', 'in', ['old bones', 'big paintings', 'quiet rooms']],
  ['the harbor', 'at', ['big ships', 'fishing nets', 'busy sailors']],
  ['the barn', 'in', ['soft hay', 'sleepy cows', 'a tall ladder']],
  ['the fair', 'at', ['a big wheel', 'sweet candy', 'bright lights']],
  ['the station', 'at', ['long trains', 'a big clock', 'many people']],
  ['the swamp', 'in', ['thick mud', 'croaking frogs', 'old logs']],
  ['the treehouse', 'in', ['a rope ladder', 'a tiny window', 'a secret box']],
  ['the lighthouse', 'at', ['a spiral staircase', 'a big lamp', 'a view of the sea']],
  ['the circus', 'at', ['a striped tent', 'a tightrope', 'funny clowns']],
  ['the bus stop', 'at', ['a long bench', 'a red sign', 'a puddle']],
  ['the greenhouse', 'in', ['tomato plants', 'warm air', 'tiny seedlings']],
  ['the ice rink', 'at', ['smooth ice', 'cold air', 'a little cafe']],
  ['the campsite', 'at', ['a crackling fire', 'a green tent', 'tall pines']],
  ['the pumpkin patch', 'in', ['orange pumpkins', 'twisty vines', 'a hay wagon']],
  ['the flower shop', 'in', ['red tulips', 'buckets of daisies', 'a little bell']],
  ['the bridge', 'on', ['old stones', 'a rushing stream', 'a lamp post']],
  ['the waterfall', 'by', ['falling water', 'wet rocks', 'a rainbow']],
  ['the rainforest', 'in', ['dripping leaves', 'bright parrots', 'giant trees']],
  ['the cottage', 'in', ['a warm fireplace', 'a wooden table', 'a cozy bed']],
  ['the hospital', 'at', ['kind nurses', 'white beds', 'a toy corner']],
  ['the sandbox', 'in', ['soft sand', 'little buckets', 'a plastic shovel']],
  ['the mill', 'at', ['a big wheel', 'sacks of flour', 'a busy miller']],
  ['the lagoon', 'by', ['warm water', 'bright fish', 'a coral reef']],
  ['the canyon', 'in', ['red rocks', 'a narrow trail', 'a loud echo']],
  ['the tree', 'under', ['wide branches', 'cool shade', 'a squirrel nest']],
  ['the igloo', 'in', ['walls of snow', 'a fur blanket', 'a tiny door']],
];

// objects a character can own, lose, find or want
export const OBJECTS = `ball kite doll teddy_bear toy_car toy_train book hat scarf balloon drum whistle flute bell shell stone
crayon pencil paintbrush blanket pillow cup bowl spoon apple banana cookie cake pie sandwich umbrella boot mitten sock jacket
bucket shovel basket box key map compass lamp candle flower leaf feather ribbon button necklace ring crown wand robot puzzle
block marble yo-yo top sticker jar bottle coin star bike wagon boat rope net ladder bag backpack bottle watch clock magnet
mirror camera kazoo guitar piano trumpet violin harmonica acorn pinecone carrot egg orange lemon pear plum melon nut seed
stick sled skateboard helmet cape mask tent ticket letter card postcard present gift egg cupcake muffin pebble crystal
lantern telescope globe bucket flag paper_plane
balloon kettle teapot rocket spaceship tractor dump_truck fire_truck scooter whistle sailboat rowboat drumstick
xylophone tambourine banjo recorder bracelet brooch locket hairbrush comb toothbrush towel raincoat sweater
glove slipper sandal sneaker pajamas nightlight alarm_clock flashlight binoculars magnifying_glass notebook
diary sketchbook storybook comic chalk eraser ruler scissors glue_stick tape paint_box snow_globe music_box
spinning_top rocking_horse dollhouse toy_dinosaur toy_robot puppet kite_string fishing_rod
watering_can flowerpot seed_packet bird_feeder birdhouse hammock picnic_basket lunchbox thermos water_bottle
pebble_jar acorn_cap pine_cone sea_glass starfish sand_dollar feather_duster pumpkin turnip potato tomato
cucumber strawberry cherry peach apricot coconut pineapple walnut hazelnut pretzel bagel waffle pancake
donut lollipop cupcake gingerbread_man jelly_bean chocolate_bar ice_cream_cone`.split(/\s+/).map((w) => w.replace(/_/g, ' ')).filter((w, i, a) => a.indexOf(w) === i);

export const OBJECT_ADJS = `red blue green yellow pink purple orange white black brown shiny old new little big soft round
tiny sparkly striped spotted golden silver wooden funny special favorite colorful bright warm fluffy smooth
shiny-new dusty squeaky bumpy heavy light magic glittery woolly velvet painted polka-dot plaid gigantic small`.split(/\s+/);

export const FOODS = `apples berries carrots cookies cakes nuts seeds pears plums grapes cherries sandwiches muffins pies
strawberries bananas oranges honey cheese bread pancakes corn peas beans melons candies`.split(/\s+/);

// activities: past tense phrase, base form phrase, -ing form phrase
export const ACTIVITIES = [
  ['played with a ball', 'play with a ball', 'playing with a ball'],
  ['built a sand castle', 'build a sand castle', 'building a sand castle'],
  ['flew a kite', 'fly a kite', 'flying a kite'],
  ['picked flowers', 'pick flowers', 'picking flowers'],
  ['sang a song', 'sing a song', 'singing a song'],
  ['danced in the sun', 'dance in the sun', 'dancing in the sun'],
  ['jumped in puddles', 'jump in puddles', 'jumping in puddles'],
  ['read a book', 'read a book', 'reading a book'],
  ['drew a picture', 'draw a picture', 'drawing a picture'],
  ['painted a rainbow', 'paint a rainbow', 'painting a rainbow'],
  ['played hide and seek', 'play hide and seek', 'playing hide and seek'],
  ['climbed a tree', 'climb a tree', 'climbing a tree'],
  ['rode a bike', 'ride a bike', 'riding a bike'],
  ['baked cookies', 'bake cookies', 'baking cookies'],
  ['looked at the stars', 'look at the stars', 'looking at the stars'],
  ['collected shells', 'collect shells', 'collecting shells'],
  ['chased butterflies', 'chase butterflies', 'chasing butterflies'],
  ['splashed in the water', 'splash in the water', 'splashing in the water'],
  ['built a tower of blocks', 'build a tower of blocks', 'building a tower of blocks'],
  ['played tag', 'play tag', 'playing tag'],
  ['rolled down the hill', 'roll down the hill', 'rolling down the hill'],
  ['made a snowman', 'make a snowman', 'making a snowman'],
  ['had a picnic', 'have a picnic', 'having a picnic'],
  ['planted seeds', 'plant seeds', 'planting seeds'],
  ['watched the clouds', 'watch the clouds', 'watching the clouds'],
  ['told jokes', 'tell jokes', 'telling jokes'],
  ['played music', 'play music', 'playing music'],
  ['made a cake', 'make a cake', 'making a cake'],
  ['went for a walk', 'go for a walk', 'going for a walk'],
  ['swam in the lake', 'swim in the lake', 'swimming in the lake'],
  ['skipped stones', 'skip stones', 'skipping stones'],
  ['played with blocks', 'play with blocks', 'playing with blocks'],
  ['blew bubbles', 'blow bubbles', 'blowing bubbles'],
  ['looked for bugs', 'look for bugs', 'looking for bugs'],
  ['made a fort', 'make a fort', 'making a fort'],
  ['went fishing', 'go fishing', 'going fishing'],
  ['played hopscotch', 'play hopscotch', 'playing hopscotch'],
  ['jumped rope', 'jump rope', 'jumping rope'],
  ['counted the stars', 'count the stars', 'counting the stars'],
  ['fed the ducks', 'feed the ducks', 'feeding the ducks'],
  ['made paper boats', 'make paper boats', 'making paper boats'],
  ['dug for treasure', 'dig for treasure', 'digging for treasure'],
  ['played dress-up', 'play dress-up', 'playing dress-up'],
  ['rode on a swing', 'ride on a swing', 'riding on a swing'],
  ['sledded down the hill', 'sled down the hill', 'sledding down the hill'],
  ['raked the leaves', 'rake the leaves', 'raking the leaves'],
  ['picked berries', 'pick berries', 'picking berries'],
  ['built a snow fort', 'build a snow fort', 'building a snow fort'],
  ['played the drums', 'play the drums', 'playing the drums'],
  ['made a necklace of flowers', 'make a necklace of flowers', 'making a necklace of flowers'],
  ['watched the boats', 'watch the boats', 'watching the boats'],
  ['played catch', 'play catch', 'playing catch'],
  ['did a puzzle', 'do a puzzle', 'doing a puzzle'],
  ['told stories', 'tell stories', 'telling stories'],
  ['had a tea party', 'have a tea party', 'having a tea party'],
  ['looked for four-leaf clovers', 'look for four-leaf clovers', 'looking for four-leaf clovers'],
  ['made mud pies', 'make mud pies', 'making mud pies'],
  ['played with the puppy', 'play with the puppy', 'playing with the puppy'],
  ['hunted for pretty stones', 'hunt for pretty stones', 'hunting for pretty stones'],
  ['practiced cartwheels', 'practice cartwheels', 'practicing cartwheels'],
];

// goals: base form phrase, past tense phrase (success), a thing that goes wrong when trying
export const GOALS = [
  ['climb the tallest tree', 'climbed the tallest tree', 'slipped and fell on the soft grass'],
  ['ride a bike', 'rode the bike all the way', 'wobbled and fell over'],
  ['bake a cake', 'baked a perfect cake', 'burned the cake'],
  ['fly a kite', 'flew the kite high in the sky', 'watched the kite crash to the ground'],
  ['swim across the pond', 'swam across the pond', 'swallowed some water and had to stop'],
  ['build a tall tower', 'built a tower taller than the door', 'saw the tower fall down'],
  ['catch a fish', 'caught a big fish', 'caught only an old boot'],
  ['learn to whistle', 'whistled a happy tune', 'made only a funny noise'],
  ['jump over the fence', 'jumped right over the fence', 'bumped into the fence'],
  ['win the race', 'won the race', 'tripped near the start'],
  ['reach the top of the hill', 'reached the top of the hill', 'got tired halfway up'],
  ['write a story', 'wrote a wonderful story', 'could not think of a single word'],
  ['paint a picture of the sea', 'painted a beautiful picture of the sea', 'spilled the paint everywhere'],
  ['grow a big sunflower', 'grew the biggest sunflower in town', 'forgot to water the seed'],
  ['learn to read', 'read a whole book', 'mixed up the letters'],
  ['make a new friend', 'made a new friend', 'was too shy to say hello'],
  ['find the hidden treasure', 'found the hidden treasure', 'dug in the wrong place'],
  ['sing in the show', 'sang beautifully in the show', 'forgot the words'],
  ['tie a shoelace', 'tied a perfect bow', 'made a big knot'],
  ['build a birdhouse', 'built a lovely birdhouse', 'hit a thumb with the hammer'],
  ['skate on the ice', 'skated across the ice', 'slid and landed on the ice'],
  ['count to one hundred', 'counted all the way to one hundred', 'got lost after fifty'],
  ['make a sandcastle', 'made the best sandcastle on the beach', 'watched a wave wash it away'],
  ['climb the big rock', 'climbed to the top of the big rock', 'could not find a place to hold'],
];

// fears: noun phrase
export const FEARS = ['the dark', 'thunder', 'deep water', 'big dogs', 'loud noises', 'the tall slide', 'spiders',
  'the old house', 'the first day of school', 'heights', 'the big waves', 'strange noises at night', 'the doctor',
  'the empty hallway', 'the wind', 'bees', 'the cave'];

// someone in trouble: [who (noun phrase with article), problem (past tense clause), fix (past tense clause of helper)]
export const TROUBLES = [
  ['a little bird', 'had fallen out of its nest', 'gently put the bird back in its nest'],
  ['a small kitten', 'was stuck high up in a tree', 'climbed up and carried the kitten down'],
  ['an old turtle', 'was lying on its back', 'helped the turtle turn over'],
  ['a baby duck', 'had lost its mother', 'led the duck back to the pond'],
  ['a tiny mouse', 'was caught in a net', 'pulled the net open'],
  ['a puppy', 'was stuck in the mud', 'pulled the puppy out of the mud'],
  ['an old man', 'had dropped all his apples', 'picked up every apple'],
  ['a little girl', 'could not find her way home', 'walked with her to her house'],
  ['a lost lamb', 'was crying by the road', 'took the lamb back to the farm'],
  ['a hungry squirrel', 'had no food for the winter', 'shared some nuts with the squirrel'],
  ['an ant', 'was carrying a crumb that was too heavy', 'helped carry the crumb home'],
  ['a bee', 'was stuck in a puddle', 'lifted the bee out with a leaf'],
  ['an old lady', 'could not reach the top shelf', 'reached up and got the jar for her'],
  ['a baby bird', 'was cold and wet', 'wrapped the bird in a warm scarf'],
  ['a frog', 'was stuck in a jar', 'tipped the jar over so the frog could hop out'],
  ['a little boy', 'had hurt his knee', 'found a bandage and helped him up'],
];

export const WEATHER = ['sunny', 'rainy', 'windy', 'snowy', 'cloudy', 'warm', 'cold', 'bright', 'foggy', 'stormy'];
export const TIMES = ['morning', 'afternoon', 'evening', 'day'];
export const SEASONS = ['spring', 'summer', 'autumn', 'winter'];

export const FEELINGS_GOOD = ['happy', 'glad', 'proud', 'excited', 'joyful', 'cheerful', 'pleased', 'thankful'];
export const FEELINGS_BAD = ['sad', 'upset', 'worried', 'scared', 'lonely', 'angry', 'unhappy', 'nervous'];

export const PARENTS = [
  ['mom', 'she'], ['dad', 'he'], ['grandma', 'she'], ['grandpa', 'he'], ['mother', 'she'], ['father', 'he'],
  ['aunt', 'she'], ['uncle', 'he'], ['teacher', 'she'], ['big sister', 'she'], ['big brother', 'he'],
];

export const DANGERS = [
  ['go near the river', 'slipped on a wet stone and fell into the cold water'],
  ['climb the old fence', 'tore a sleeve and got stuck on the top'],
  ['play in the mud', 'got mud all over the new clothes'],
  ['eat all the cookies', 'got a big tummy ache'],
  ['go into the woods alone', 'got lost among the trees'],
  ['touch the hot stove', 'burned a finger'],
  ['run on the wet floor', 'slipped and bumped a knee'],
  ['stay up too late', 'was too tired to play the next day'],
  ['play with the ball inside', 'broke a vase'],
  ['go out without a coat', 'got very cold and started to sneeze'],
  ['wander off at the market', 'could not find the way back'],
  ['climb on the shelf', 'knocked down all the books'],
];

export const MORALS = {
  friendship: ['Friends are there to help each other.', 'A good friend is worth more than gold.',
    'It is always better when we do things together.', 'True friends help you when you need it most.'],
  sharing: ['Sharing makes everyone happy.', 'When we share, we have more fun.',
    'It is better to share than to keep everything to yourself.', 'A happy heart is a sharing heart.'],
  courage: ['Being brave does not mean you are not scared.', 'You can do hard things if you try.',
    'Courage grows when you face your fears.', 'Sometimes the scary things are not so scary after all.'],
  honesty: ['Telling the truth is always the right thing to do.', 'It is better to be honest, even when it is hard.',
    'A lie makes a problem bigger, but the truth makes it smaller.', 'Saying sorry can fix many things.'],
  persistence: ['If at first you do not succeed, try, try again.', 'Never give up on your dreams.',
    'Practice makes things easier.', 'Little by little, you can do great things.'],
  kindness: ['A little kindness goes a long way.', 'When you are kind to others, they will be kind to you.',
    'Helping others makes the world a better place.', 'Kindness always comes back to you.'],
  listening: ['It is wise to listen to those who love you.', 'Rules are there to keep us safe.',
    'Listening to good advice can save you from trouble.', 'Grown-ups often know best.'],
  thoughtfulness: ['It is the thought that counts.', 'The best gifts come from the heart.',
    'A gift made with love is the best gift of all.', 'What matters most is that you care.'],
  patience: ['Good things come to those who wait.', 'Slow and steady wins the race.',
    'Patience is a kind of magic.', 'Taking your time is often the fastest way.'],
};
