/* gen_names.c: the tables of `jukilog gen` (see gen_names.h): names, municipalities, towns and
 * age profiles of a Yamaguchi-like prefecture. Data only; gen.c draws from it. */
#include "gen_names.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Frequent surnames, weighted roughly as in western Japan. Some share a reading with another
 * entry (森田/守田, 斉藤/斎藤, 渡辺/渡邊, ...): a clerk who wrote the wrong one is what an
 * ex_officio_correction of a name puts right, the reading staying the same. */
const jk_gen_surname_t jk_gen_surnames[] = {
    {"山本", "ヤマモト", 40},  {"田中", "タナカ", 36},   {"中村", "ナカムラ", 34},
    {"藤井", "フジイ", 30},    {"林", "ハヤシ", 28},     {"山口", "ヤマグチ", 26},
    {"松本", "マツモト", 26},  {"伊藤", "イトウ", 25},   {"原田", "ハラダ", 22},
    {"河村", "カワムラ", 22},  {"吉村", "ヨシムラ", 20}, {"岡村", "オカムラ", 18},
    {"渡辺", "ワタナベ", 20},  {"渡邊", "ワタナベ", 2},  {"西村", "ニシムラ", 18},
    {"村上", "ムラカミ", 18},  {"藤本", "フジモト", 17}, {"佐々木", "ササキ", 15},
    {"山田", "ヤマダ", 17},    {"木村", "キムラ", 16},   {"井上", "イノウエ", 18},
    {"吉田", "ヨシダ", 17},    {"清水", "シミズ", 15},   {"末永", "スエナガ", 12},
    {"松村", "マツムラ", 12},  {"弘中", "ヒロナカ", 10}, {"河野", "カワノ", 12},
    {"藤村", "フジムラ", 10},  {"岡本", "オカモト", 14}, {"福田", "フクダ", 12},
    {"松岡", "マツオカ", 11},  {"中野", "ナカノ", 11},   {"田村", "タムラ", 13},
    {"石川", "イシカワ", 10},  {"小林", "コバヤシ", 13}, {"高橋", "タカハシ", 12},
    {"髙橋", "タカハシ", 2},   {"佐藤", "サトウ", 12},   {"鈴木", "スズキ", 9},
    {"森", "モリ", 12},        {"池田", "イケダ", 12},   {"石田", "イシダ", 10},
    {"上田", "ウエダ", 10},    {"中島", "ナカシマ", 10}, {"前田", "マエダ", 10},
    {"藤田", "フジタ", 11},    {"岡田", "オカダ", 11},   {"後藤", "ゴトウ", 8},
    {"長谷川", "ハセガワ", 6}, {"村田", "ムラタ", 9},    {"近藤", "コンドウ", 6},
    {"坂本", "サカモト", 9},   {"遠藤", "エンドウ", 5},  {"青木", "アオキ", 7},
    {"藤原", "フジワラ", 11},  {"三浦", "ミウラ", 6},    {"西田", "ニシダ", 8},
    {"竹内", "タケウチ", 6},   {"金子", "カネコ", 7},    {"和田", "ワダ", 8},
    {"中山", "ナカヤマ", 7},   {"石井", "イシイ", 7},    {"小川", "オガワ", 8},
    {"山下", "ヤマシタ", 10},  {"太田", "オオタ", 6},    {"原", "ハラ", 8},
    {"松田", "マツダ", 9},     {"中川", "ナカガワ", 8},  {"中田", "ナカタ", 7},
    {"小野", "オノ", 7},       {"宮本", "ミヤモト", 9},  {"野村", "ノムラ", 8},
    {"久保", "クボ", 7},       {"平野", "ヒラノ", 6},    {"大塚", "オオツカ", 5},
    {"内田", "ウチダ", 6},     {"杉山", "スギヤマ", 5},  {"増田", "マスダ", 6},
    {"丸山", "マルヤマ", 5},   {"今井", "イマイ", 5},    {"河本", "カワモト", 8},
    {"国重", "クニシゲ", 5},   {"守田", "モリタ", 4},    {"兼重", "カネシゲ", 4},
    {"有吉", "アリヨシ", 4},   {"白井", "シライ", 5},    {"重村", "シゲムラ", 4},
    {"広兼", "ヒロカネ", 4},   {"三好", "ミヨシ", 6},    {"秋本", "アキモト", 5},
    {"大谷", "オオタニ", 5},   {"武田", "タケダ", 6},    {"安部", "アベ", 6},
    {"宮崎", "ミヤザキ", 6},   {"岩本", "イワモト", 7},  {"植田", "ウエダ", 5},
    {"橋本", "ハシモト", 8},   {"森田", "モリタ", 7},    {"山崎", "ヤマサキ", 7},
    {"久保田", "クボタ", 5},   {"片山", "カタヤマ", 5},  {"浅野", "アサノ", 4},
    {"桑原", "クワバラ", 5},   {"岩崎", "イワサキ", 5},  {"斉藤", "サイトウ", 6},
    {"斎藤", "サイトウ", 4},   {"沢田", "サワダ", 4},    {"澤田", "サワダ", 2},
    {"浜田", "ハマダ", 6},     {"濱田", "ハマダ", 1},    {"島田", "シマダ", 6},
    {"嶋田", "シマダ", 2},     {"広瀬", "ヒロセ", 4},    {"廣瀬", "ヒロセ", 1},
    {"藤山", "フジヤマ", 4},   {"縄田", "ナワタ", 4},    {"末富", "スエトミ", 3},
    {"田原", "タハラ", 5},     {"古谷", "フルヤ", 3},    {"三原", "ミハラ", 4},
    {"吉岡", "ヨシオカ", 5},   {"野田", "ノダ", 5},      {"大田", "オオタ", 3},
};
const unsigned jk_gen_n_surnames = COUNT(jk_gen_surnames);

#define M 1
#define F 2
#define OLD JK_GEN_ERA_OLD
#define MID JK_GEN_ERA_MID
#define NEW JK_GEN_ERA_NEW

const jk_gen_given_t jk_gen_given_names[] = {
    /* men born up to 1955 */
    {"清", "キヨシ", M, OLD},
    {"茂", "シゲル", M, OLD},
    {"博", "ヒロシ", M, OLD},
    {"実", "ミノル", M, OLD},
    {"勇", "イサム", M, OLD},
    {"進", "ススム", M, OLD},
    {"正", "タダシ", M, OLD},
    {"昭", "アキラ", M, OLD},
    {"勝", "マサル", M, OLD},
    {"隆", "タカシ", M, OLD},
    {"弘", "ヒロシ", M, OLD},
    {"修", "オサム", M, OLD},
    {"和夫", "カズオ", M, OLD},
    {"正雄", "マサオ", M, OLD},
    {"武", "タケシ", M, OLD},
    {"豊", "ユタカ", M, OLD},
    {"功", "イサオ", M, OLD},
    {"忠", "タダシ", M, OLD},
    {"健一", "ケンイチ", M, OLD},
    {"俊夫", "トシオ", M, OLD},
    /* men born 1956-1990 */
    {"誠", "マコト", M, MID},
    {"大輔", "ダイスケ", M, MID},
    {"浩二", "コウジ", M, MID},
    {"隆之", "タカユキ", M, MID},
    {"拓也", "タクヤ", M, MID},
    {"直樹", "ナオキ", M, MID},
    {"和也", "カズヤ", M, MID},
    {"達也", "タツヤ", M, MID},
    {"剛", "ツヨシ", M, MID},
    {"亮", "リョウ", M, MID},
    {"聡", "サトシ", M, MID},
    {"健", "ケン", M, MID},
    {"学", "マナブ", M, MID},
    {"哲也", "テツヤ", M, MID},
    {"秀樹", "ヒデキ", M, MID},
    {"浩", "ヒロシ", M, MID},
    {"雅之", "マサユキ", M, MID},
    {"明", "アキラ", M, MID},
    {"智", "サトシ", M, MID},
    {"英樹", "ヒデキ", M, MID},
    /* men born from 1991 */
    {"蓮", "レン", M, NEW},
    {"陽翔", "ハルト", M, NEW},
    {"湊", "ミナト", M, NEW},
    {"悠真", "ユウマ", M, NEW},
    {"大翔", "ヒロト", M, NEW},
    {"颯太", "ソウタ", M, NEW},
    {"蒼", "アオイ", M, NEW},
    {"樹", "イツキ", M, NEW},
    {"悠斗", "ユウト", M, NEW},
    {"陽太", "ヨウタ", M, NEW},
    {"翔太", "ショウタ", M, NEW},
    {"颯", "ハヤテ", M, NEW},
    {"律", "リツ", M, NEW},
    {"朝陽", "アサヒ", M, NEW},
    {"結翔", "ユイト", M, NEW},
    {"翼", "ツバサ", M, NEW},
    {"大和", "ヤマト", M, NEW},
    {"拓海", "タクミ", M, NEW},
    {"健太", "ケンタ", M, NEW},
    {"優斗", "ユウト", M, NEW},
    /* women born up to 1955 */
    {"和子", "カズコ", F, OLD},
    {"幸子", "サチコ", F, OLD},
    {"節子", "セツコ", F, OLD},
    {"洋子", "ヨウコ", F, OLD},
    {"恵子", "ケイコ", F, OLD},
    {"京子", "キョウコ", F, OLD},
    {"美智子", "ミチコ", F, OLD},
    {"久美子", "クミコ", F, OLD},
    {"文子", "フミコ", F, OLD},
    {"照子", "テルコ", F, OLD},
    {"静子", "シズコ", F, OLD},
    {"千代子", "チヨコ", F, OLD},
    {"光子", "ミツコ", F, OLD},
    {"悦子", "エツコ", F, OLD},
    {"君子", "キミコ", F, OLD},
    {"弘子", "ヒロコ", F, OLD},
    {"信子", "ノブコ", F, OLD},
    {"時子", "トキコ", F, OLD},
    {"正子", "マサコ", F, OLD},
    {"富子", "トミコ", F, OLD},
    /* women born 1956-1990 */
    {"裕子", "ユウコ", F, MID},
    {"真由美", "マユミ", F, MID},
    {"由美子", "ユミコ", F, MID},
    {"明美", "アケミ", F, MID},
    {"直美", "ナオミ", F, MID},
    {"智子", "トモコ", F, MID},
    {"陽子", "ヨウコ", F, MID},
    {"恵", "メグミ", F, MID},
    {"愛", "アイ", F, MID},
    {"綾", "アヤ", F, MID},
    {"麻衣", "マイ", F, MID},
    {"香織", "カオリ", F, MID},
    {"美穂", "ミホ", F, MID},
    {"舞", "マイ", F, MID},
    {"由香", "ユカ", F, MID},
    {"千尋", "チヒロ", F, MID},
    {"沙織", "サオリ", F, MID},
    {"奈々", "ナナ", F, MID},
    {"美咲", "ミサキ", F, MID},
    {"純子", "ジュンコ", F, MID},
    /* women born from 1991 */
    {"陽葵", "ヒマリ", F, NEW},
    {"凛", "リン", F, NEW},
    {"結菜", "ユイナ", F, NEW},
    {"葵", "アオイ", F, NEW},
    {"紬", "ツムギ", F, NEW},
    {"芽依", "メイ", F, NEW},
    {"結衣", "ユイ", F, NEW},
    {"莉子", "リコ", F, NEW},
    {"杏", "アン", F, NEW},
    {"さくら", "サクラ", F, NEW},
    {"美桜", "ミオ", F, NEW},
    {"心春", "コハル", F, NEW},
    {"咲良", "サクラ", F, NEW},
    {"花", "ハナ", F, NEW},
    {"澪", "ミオ", F, NEW},
    {"琴音", "コトネ", F, NEW},
    {"彩花", "アヤカ", F, NEW},
    {"楓", "カエデ", F, NEW},
    {"優奈", "ユウナ", F, NEW},
    {"陽菜", "ヒナ", F, NEW},
};
const unsigned jk_gen_n_given_names = COUNT(jk_gen_given_names);

/* The nationalities most represented among Yamaguchi's foreign residents, roughly. */
const jk_gen_foreign_t jk_gen_foreign_surnames[] = {
    {"グエン", JK_GEN_VN, 0},      {"チャン", JK_GEN_VN, 0},    {"ファム", JK_GEN_VN, 0},
    {"レ", JK_GEN_VN, 0},          {"ホアン", JK_GEN_VN, 0},    {"キム", JK_GEN_KR, 0},
    {"パク", JK_GEN_KR, 0},        {"チェ", JK_GEN_KR, 0},      {"イ", JK_GEN_KR, 0},
    {"ワン", JK_GEN_CN, 0},        {"リュウ", JK_GEN_CN, 0},    {"チョウ", JK_GEN_CN, 0},
    {"サントス", JK_GEN_LATIN, 0}, {"シルバ", JK_GEN_LATIN, 0}, {"ガルシア", JK_GEN_LATIN, 0},
    {"レイエス", JK_GEN_LATIN, 0}, {"クルス", JK_GEN_LATIN, 0}, {"オリベイラ", JK_GEN_LATIN, 0},
    {"スミス", JK_GEN_EN, 0},      {"ブラウン", JK_GEN_EN, 0},  {"ジョンソン", JK_GEN_EN, 0},
};
const unsigned jk_gen_n_foreign_surnames = COUNT(jk_gen_foreign_surnames);

const jk_gen_foreign_t jk_gen_foreign_given[] = {
    {"ミン", JK_GEN_VN, M},        {"ドゥック", JK_GEN_VN, M},   {"トゥアン", JK_GEN_VN, M},
    {"ホア", JK_GEN_VN, F},        {"リン", JK_GEN_VN, F},       {"タオ", JK_GEN_VN, F},
    {"ジュンホ", JK_GEN_KR, M},    {"ミンジュン", JK_GEN_KR, M}, {"ジウ", JK_GEN_KR, F},
    {"ソヨン", JK_GEN_KR, F},      {"ウェイ", JK_GEN_CN, M},     {"ハオ", JK_GEN_CN, M},
    {"メイ", JK_GEN_CN, F},        {"ジン", JK_GEN_CN, F},       {"ジョアン", JK_GEN_LATIN, M},
    {"カルロス", JK_GEN_LATIN, M}, {"マリア", JK_GEN_LATIN, F},  {"アナ", JK_GEN_LATIN, F},
    {"ジョン", JK_GEN_EN, M},      {"マイケル", JK_GEN_EN, M},   {"エミリー", JK_GEN_EN, F},
    {"サラ", JK_GEN_EN, F},
};
const unsigned jk_gen_n_foreign_given = COUNT(jk_gen_foreign_given);

/* A handful of towns per municipality: 丁目 in the centres, 大字 and 番地 in the country. */
static const jk_gen_town_t shimonoseki[] = {
    {"竹崎町", 4},     {"細江町", 3},       {"上田中町", 8}, {"幡生町", 2},
    {"綾羅木本町", 8}, {"彦島江の浦町", 9}, {"秋根南町", 2}, {"伊倉新町", 4},
};
static const jk_gen_town_t ube[] = {
    {"常盤町", 2}, {"新天町", 2},     {"琴芝町", 2},     {"中央町", 3},
    {"松山町", 5}, {"大字西岐波", 0}, {"大字東岐波", 0}, {"厚南中央", 8},
};
static const jk_gen_town_t yamaguchi[] = {
    {"中央", 5},     {"亀山町", 3},   {"湯田温泉", 6}, {"大内御堀", 0},
    {"小郡下郷", 0}, {"吉敷下東", 4}, {"大字平井", 0}, {"大字宮野下", 0},
};
static const jk_gen_town_t hagi[] = {
    {"大字江向", 0}, {"大字土原", 0}, {"大字椿東", 0}, {"大字東田町", 0}, {"大字熊谷町", 0},
};
static const jk_gen_town_t hofu[] = {
    {"寿町", 0},     {"栄町", 2},     {"天神", 2}, {"八王子", 2},
    {"大字牟礼", 0}, {"大字新田", 0}, {"国衙", 5},
};
static const jk_gen_town_t kudamatsu[] = {
    {"大手町", 3}, {"東豊井", 0},     {"西豊井", 0},
    {"潮音町", 9}, {"大字生野屋", 0}, {"大字末武中", 0},
};
static const jk_gen_town_t iwakuni[] = {
    {"今津町", 6}, {"麻里布町", 7}, {"室の木町", 4}, {"川西", 4},
    {"錦見", 9},   {"南岩国町", 4}, {"由宇町", 0},
};
static const jk_gen_town_t hikari[] = {
    {"中央", 6}, {"島田", 6}, {"虹ケ丘", 8}, {"浅江", 7}, {"室積", 9}, {"光井", 9},
};
static const jk_gen_town_t nagato[] = {
    {"東深川", 0},
    {"仙崎", 0},
    {"油谷新別名", 0},
    {"日置上", 0},
};
static const jk_gen_town_t yanai[] = {
    {"柳井", 0},
    {"南町", 7},
    {"古開作", 0},
    {"伊保庄", 0},
};
static const jk_gen_town_t mine[] = {
    {"大嶺町東分", 0},
    {"秋芳町秋吉", 0},
    {"美東町大田", 0},
    {"伊佐町伊佐", 0},
};
static const jk_gen_town_t shunan[] = {
    {"岐山通", 4},   {"御幸通", 2},   {"岐南町", 0}, {"新宿通", 5},
    {"大字久米", 0}, {"大字富田", 0}, {"秋月", 4},   {"大字徳山", 0},
};
static const jk_gen_town_t sanyo_onoda[] = {
    {"日の出", 5}, {"中央", 3}, {"稲荷町", 0}, {"大字東高泊", 0}, {"大字厚狭", 0}, {"港町", 0},
};
static const jk_gen_town_t suo_oshima[] = {
    {"大字小松", 0},
    {"大字久賀", 0},
    {"大字東安下庄", 0},
    {"大字西安下庄", 0},
};
static const jk_gen_town_t waki[] = {
    {"和木", 6},
    {"瀬田", 2},
};
static const jk_gen_town_t kaminoseki[] = {
    {"大字長島", 0},
    {"大字室津", 0},
    {"大字祝島", 0},
};
static const jk_gen_town_t tabuse[] = {
    {"大字下田布施", 0},
    {"大字波野", 0},
    {"大字麻郷", 0},
};
static const jk_gen_town_t hirao[] = {
    {"大字平生町", 0},
    {"大字宇佐木", 0},
    {"大字佐賀", 0},
};
static const jk_gen_town_t abu[] = {
    {"大字奈古", 0},
    {"大字福賀", 0},
    {"大字宇田", 0},
};

#define TOWNS(t) t, COUNT(t)

/* Populations rounded from recent estimates; only their ratios matter. */
const jk_gen_muni_t jk_gen_yamaguchi[] = {
    {"352012", "下関市", 255000, TOWNS(shimonoseki)},
    {"352021", "宇部市", 162000, TOWNS(ube)},
    {"352039", "山口市", 190000, TOWNS(yamaguchi)},
    {"352047", "萩市", 44000, TOWNS(hagi)},
    {"352063", "防府市", 114000, TOWNS(hofu)},
    {"352071", "下松市", 57000, TOWNS(kudamatsu)},
    {"352080", "岩国市", 130000, TOWNS(iwakuni)},
    {"352101", "光市", 50000, TOWNS(hikari)},
    {"352110", "長門市", 32000, TOWNS(nagato)},
    {"352128", "柳井市", 31000, TOWNS(yanai)},
    {"352136", "美祢市", 23000, TOWNS(mine)},
    {"352152", "周南市", 140000, TOWNS(shunan)},
    {"352161", "山陽小野田市", 61000, TOWNS(sanyo_onoda)},
    {"353051", "周防大島町", 14000, TOWNS(suo_oshima)},
    {"353213", "和木町", 6000, TOWNS(waki)},
    {"353418", "上関町", 2500, TOWNS(kaminoseki)},
    {"353434", "田布施町", 15000, TOWNS(tabuse)},
    {"353442", "平生町", 12000, TOWNS(hirao)},
    {"355020", "阿武町", 3000, TOWNS(abu)},
};
const unsigned jk_gen_n_yamaguchi = COUNT(jk_gen_yamaguchi);

/* Made-up street numbers in real cities of neighbouring prefectures. */
const char *const jk_gen_other_addresses[] = {
    "広島県広島市中区紙屋町一丁目7番12号", "福岡県北九州市小倉北区魚町二丁目4番15号",
    "島根県益田市駅前町17番3号",           "福岡県福岡市中央区天神三丁目9番21号",
    "広島県大竹市新町二丁目5番8号",
};
const unsigned jk_gen_n_other_addresses = COUNT(jk_gen_other_addresses);

/* Yamaguchi's pyramid is top-heavy: the bands 65-74 are the largest, one in three is 65+. */
const unsigned jk_gen_pyramid[JK_GEN_BANDS] = {
    43, 50, 53, 55, 49, 48, 55, 64, 76, 90, 81, 82, 89, 108, 117, 84, 68, 51, 27, 8, 1,
};
const unsigned jk_gen_mortality[JK_GEN_BANDS] = {
    6, 1, 1, 2, 4, 4, 5, 7, 10, 16, 24, 36, 55, 85, 130, 220, 400, 750, 1400, 2500, 4000,
};
/* Moves peak in the early twenties (school, first job) and with young children. */
const unsigned jk_gen_mobility[JK_GEN_BANDS] = {
    30, 15, 10, 25, 60, 50, 35, 25, 18, 14, 10, 8, 7, 6, 5, 5, 5, 5, 5, 5, 5,
};
const unsigned jk_gen_female_pct[JK_GEN_BANDS] = {
    49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 50, 51, 52, 53, 56, 60, 66, 72, 80, 85,
};
